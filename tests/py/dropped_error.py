# asyncio's "Developing with asyncio" example: a task whose exception
# nobody retrieves. loopsan reports dropped-error with where the task was
# created and where the exception was raised. Argument: "asyncio" or "uvloop".
import asyncio
import sys


async def bug():
    raise Exception("not consumed")  # @raise


async def main():
    asyncio.create_task(bug())  # @create


if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
asyncio.run(main())
print("dropped_error ok")
