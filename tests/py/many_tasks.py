# 3000 tasks alive at once, each stepping 4 times (3 sleep(0) yields): every
# step is a callback of its task's site, whatever the shim's tables hold.
# Argument: "asyncio" or "uvloop".
import asyncio
import sys


async def worker():
    for _ in range(3):
        await asyncio.sleep(0)


async def main():
    await asyncio.gather(*(worker() for _ in range(3000)))
    print("many_tasks ok")


if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
