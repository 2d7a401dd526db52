# time.sleep in a coroutine: the whole loop sleeps. loopsan reports a
# blocking-call with the Python line that called it. Argument: "asyncio" or
# "uvloop".
import asyncio
import sys
import time


async def refresh():
    time.sleep(0.15)  # @sleep


async def main():
    await asyncio.create_task(refresh())
    print("sleep_on_loop ok")


if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
