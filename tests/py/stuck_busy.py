# A call_later callback that blocks the loop for 0.3 s in pure Python (no
# system call): the watchdog samples it running, and the finding's stuck_at
# shows the Python line of the busy loop. Argument: "uvloop" or "asyncio".
import asyncio
import sys
import threading
import time


def refresh_token(done):
    end = time.monotonic() + 0.3
    n = 0
    while time.monotonic() < end: n += 1  # @busy
    done.set_result(n)


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(0.01, refresh_token, done)
    await done
    print("stuck_busy ok")


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
