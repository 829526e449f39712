"""The socket `darkroom serve` listens on, as asyncio (uvicorn's loop) takes it."""

from __future__ import annotations

import asyncio
import socket
import threading

from darkroom.cli import _listener


def test_connections_accepted_from_the_listener_send_without_delay() -> None:
    """Nagle's algorithm is off on each connection: with it on, an answer written in two
    parts (headers, then body) on a kept-alive connection waits for the client's delayed
    acknowledgement of the first, 40 ms on Linux, for every request a browser makes."""
    listener = _listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    told: list[int] = []

    async def run() -> None:
        accepted = asyncio.Event()

        def connected(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            told.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()
            accepted.set()

        server = await asyncio.start_server(connected, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.wait_for(accepted.wait(), 10)
            writer.close()

    # In a thread of its own: a loop an earlier test left running in this one (Playwright's)
    # refuses a second.
    checking = threading.Thread(target=asyncio.run, args=(run(),))
    checking.start()
    checking.join(30)
    assert told and told[0] != 0
