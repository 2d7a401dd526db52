# A call_later callback that blocks the loop for 0.3 s waiting for a lock
# (a futex wait: a system call loopsan does not interpose): the watchdog
# finds the thread in that call and reads its Python frames itself, and the
# finding's stuck_at shows the Python line of the acquire. Argument:
# "uvloop" or "asyncio".
import asyncio
import sys
import threading

lock = threading.Lock()


def refresh_token(done):
    got = lock.acquire(timeout=0.3)  # @acquire
    done.set_result(got)


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(0.01, refresh_token, done)
    await done
    print("stuck_lock ok")


lock.acquire()
# A second thread: the watchdog starts with the loop (a single-threaded
# program gets it only after its first slow callback).
stop = threading.Event()
helper = threading.Thread(target=stop.wait)
helper.start()
if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
stop.set()
helper.join()
