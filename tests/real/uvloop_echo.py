"""A small asyncio program on uvloop, run by tests/real/test_real_programs.c with
and without the loopsan shim. Its stdout must not depend on timing: only
fixed lines are printed. One callback blocks the loop for 0.3 s on purpose
(the slow callback the report must name)."""
import asyncio
import sys
import threading
import time

import uvloop

CLIENTS = 4
LINES = 5


async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(port, n):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    for i in range(LINES):
        msg = f'client {n} line {i}\n'.encode()
        writer.write(msg)
        await writer.drain()
        if await reader.readline() != msg:
            raise SystemExit(f'client {n}: bad echo')
    writer.close()
    await writer.wait_closed()


async def main():
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]

    await asyncio.gather(*(client(port, n) for n in range(CLIENTS)))
    print('echo ok', flush=True)

    # The slow callback: a plain call_soon handle that blocks the loop.
    done = loop.create_future()
    loop.call_soon(lambda: (time.sleep(0.3), done.set_result(None)))
    await done
    print('slow callback ok', flush=True)

    await asyncio.sleep(0.01)

    infos = await loop.getaddrinfo('localhost', port, type=1)  # SOCK_STREAM
    if not infos:
        raise SystemExit('getaddrinfo: nothing')
    print('getaddrinfo ok', flush=True)

    proc = await asyncio.create_subprocess_exec('true')
    print(f'subprocess exit {await proc.wait()}', flush=True)

    woken = loop.create_future()
    t = threading.Thread(
        target=lambda: loop.call_soon_threadsafe(woken.set_result, 'thread'))
    t.start()
    print(f'woken by {await woken}', flush=True)
    t.join()

    server.close()
    await server.wait_closed()


uvloop.install()
asyncio.run(main())
print('uvloop ok', flush=True)
sys.exit(0)
