"""The Python side of the side-by-side comparison (issue 7, "How to show it").

    py_asyncio.py tasks|soon|echo asyncio|uvloop N

tasks: 1000 tasks, each doing N `await asyncio.sleep(0)` yields (issue 16's
       first shape); counts task steps (1000 x (N + 1)).
soon: a call_soon chain of N callbacks (each schedules the next).
echo: a client and an echo server (asyncio protocols) on 127.0.0.1, one
      byte back and forth N times.
Prints "callbacks=N" (Python callbacks run, or task steps). Run it with Debian's
/usr/bin/python3 (python3-uvloop). PYTHONASYNCIODEBUG=1 turns on asyncio's
debug mode, which captures a traceback for every handle.
"""
import asyncio
import sys


TASKS = 1000


def tasks(loop, n):
    steps = 0

    async def worker():
        nonlocal steps
        steps += 1
        for _ in range(n):
            await asyncio.sleep(0)
            steps += 1

    async def main():
        await asyncio.gather(*(worker() for _ in range(TASKS)))

    loop.run_until_complete(main())
    return steps


def soon(loop, n):
    done = loop.create_future()
    count = 0

    def cb():
        nonlocal count
        count += 1
        if count < n:
            loop.call_soon(cb)
        else:
            done.set_result(None)

    loop.call_soon(cb)
    loop.run_until_complete(done)
    return count


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class Ping(asyncio.Protocol):
    def __init__(self, n, done):
        self.n, self.done, self.trips = n, done, 0

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"x")

    def data_received(self, data):
        self.trips += 1
        if self.trips < self.n:
            self.transport.write(b"x")
        else:
            self.transport.close()
            self.done.set_result(None)


def echo(loop, n):
    server = loop.run_until_complete(loop.create_server(Echo, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    done = loop.create_future()
    loop.run_until_complete(
        loop.create_connection(lambda: Ping(n, done), "127.0.0.1", port))
    loop.run_until_complete(done)
    server.close()
    loop.run_until_complete(server.wait_closed())
    return 2 * n


def main():
    kind, flavour, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if flavour == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        count = {"tasks": tasks, "soon": soon, "echo": echo}[kind](loop, n)
    finally:
        loop.close()
    print(f"callbacks={count}")


if __name__ == "__main__":
    main()
