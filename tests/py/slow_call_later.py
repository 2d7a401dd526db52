# A uvloop program whose call_later callback blocks the loop for 0.2 s
# with pure Python (no system call): loopsan reports a slow callback whose
# created_at names the line of loop.call_later, in Python.
import asyncio
import threading
import time

import uvloop


def refresh_token(done):
    end = time.monotonic() + 0.2
    n = 0
    while time.monotonic() < end: n += 1  # @busy (the loop is blocked here)
    done.set_result(n)


def schedule(loop, done):
    loop.call_later(0.01, refresh_token, done)  # @call_later


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    schedule(loop, done)  # @schedule
    await done
    print("slow_call_later ok")


# A second thread: the watchdog starts with the loop (a single-threaded
# program gets it only after its first slow callback).
stop = threading.Event()
helper = threading.Thread(target=stop.wait)
helper.start()
uvloop.install()
asyncio.run(main())
stop.set()
helper.join()
