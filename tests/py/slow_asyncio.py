# The same slow call_later callback on asyncio's own loop (epoll): loopsan
# reports the handle as a slow callback, scheduled at the call_later line
# and stuck in refresh_token.
import asyncio
import threading
import time


def refresh_token(done):
    end = time.monotonic() + 0.2
    n = 0
    while time.monotonic() < end: n += 1  # @busy (one line: sampled anywhere in it)
    done.set_result(n)


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(0.01, refresh_token, done)  # @call_later
    await done
    print("slow_asyncio ok")


# A second thread: the watchdog starts with the loop (a single-threaded
# program gets it only after its first slow callback).
stop = threading.Event()
helper = threading.Thread(target=stop.wait)
helper.start()
asyncio.run(main())  # @run
stop.set()
helper.join()
