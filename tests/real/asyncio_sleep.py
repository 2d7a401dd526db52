"""Plain asyncio (the default selector event loop, no uvloop).

  sleep  a call_soon callback calls time.sleep(0.3): the loop iteration is
         slow, and time.sleep is a blocking call on the loop thread
  idle   the loop waits 2 s in asyncio.sleep with nothing to do: no finding
"""
import asyncio
import sys
import time


async def main(mode):
    loop = asyncio.get_running_loop()
    if mode == "sleep":
        loop.call_soon(lambda: time.sleep(0.3))
        await asyncio.sleep(0.5)
    else:
        await asyncio.sleep(2)


asyncio.run(main(sys.argv[1]))
print("asyncio", sys.argv[1], "ok")
