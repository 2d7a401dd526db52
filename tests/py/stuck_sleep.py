# A call_later callback that blocks the loop for 0.3 s in time.sleep: the
# watchdog finds the thread in a system call, and the finding's stuck_at
# (and the blocking call's called_at) shows the Python line of the
# time.sleep call. Its argument is on the next line: the instruction before
# the call is there, so a frame read one instruction off shows the wrong
# line. Argument: "uvloop" or "asyncio".
import asyncio
import sys
import threading
import time


def refresh_token(done):
    time.sleep(  # @sleep
        0.3)
    done.set_result(1)


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(0.01, refresh_token, done)
    await done
    print("stuck_sleep ok")


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
