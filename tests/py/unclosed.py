# A transport dropped without close(): asyncio (and uvloop) warn "unclosed
# transport" (a ResourceWarning, hidden by default) when it is collected;
# loopsan reports unclosed-handle with where the transport was made.
# Argument: "asyncio" or "uvloop".
import asyncio
import socket
import sys


async def leak(sock):
    loop = asyncio.get_running_loop()
    await loop.create_connection(asyncio.Protocol, sock=sock)  # @open


async def main(sock):
    await leak(sock)
    print("unclosed ok")


if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.install()
a, b = socket.socketpair()
asyncio.run(main(a))  # the loop closes; the transport, still open, goes
b.close()
