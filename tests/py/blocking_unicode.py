# A call_later callback whose names are not ASCII blocks the loop in
# time.sleep: the blocking call's called_at names both Python functions as
# Python spells them (a str of 1-byte and one of 2-byte characters, which
# the shim encodes to UTF-8 itself).
import asyncio


class Jeton:
    def 更新(self):
        import time
        time.sleep(0.2)  # @sleep


def rafraîchir(done):
    Jeton().更新()  # @call
    done.set_result(1)


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(0.01, rafraîchir, done)
    await done
    print("blocking_unicode ok")


asyncio.run(main())
