# asyncio's "Developing with asyncio" example: a coroutine called but never
# awaited. loopsan reports never-awaited with the line that made it.
# Argument: "asyncio" or "uvloop".
import asyncio
import sys


async def test():
    print("never scheduled")


async def main():
    test()  # @never


if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
print("never_awaited ok")
