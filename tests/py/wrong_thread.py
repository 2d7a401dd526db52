# loop.call_soon from a thread that does not run the loop (it should be
# call_soon_threadsafe): asyncio checks this only in debug mode; loopsan
# reports wrong-thread with the caller's line. Argument: "asyncio" or "uvloop".
import asyncio
import sys
import threading


def from_thread(loop, done):
    loop.call_soon(done.set_result, 1)  # @call_soon


async def main(t):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    t.args = (loop, done)
    t.ready.set()
    # call_soon does not wake the loop up: look again now and then.
    for _ in range(500):
        if done.done():
            break
        await asyncio.sleep(0.01)
    print("wrong_thread ok" if done.done() else "wrong_thread: never ran")


class Caller(threading.Thread):
    ready = threading.Event()

    def run(self):
        self.ready.wait()
        from_thread(*self.args)


if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
caller = Caller()
caller.start()  # before the loop: starting a thread waits for it
asyncio.run(main(caller))
caller.join()  # after the loop: not a blocking call on it
