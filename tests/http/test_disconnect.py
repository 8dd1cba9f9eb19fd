"""A client that goes away cancels its handler over HTTP: unary endpoints, features, and a stream
still waiting for its first item (issue 16 item 3; the conformance suite checks the same through
HttpTransport's caller cancellation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from reverie import endpoint, feature, service
from reverie._private.host.host import Host
from reverie._private.http.server import HttpServer


@service(namespace="disconnect")
class Back:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def _wait(self) -> str:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return "done"

    @endpoint()
    async def slow(self) -> str:
        return await self._wait()

    @feature("GET:wait")
    async def wait(self) -> str:
        return await self._wait()

    @endpoint()
    async def late(self) -> AsyncIterator[int]:
        await self._wait()
        yield 1


@pytest.fixture
async def back() -> AsyncIterator[tuple[Back, str]]:
    host = Host(env={}, name="disconnect")
    await host.start(Back)
    try:
        async with HttpServer(host, port=0, access_log=False, log_level="warning") as srv:
            yield host.instance(Back).obj, srv.url
    finally:
        await host.stop()


async def _leave_early(back: Back, request: httpx.Request) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        call = asyncio.ensure_future(http.send(request))
        await asyncio.wait_for(back.started.wait(), 10)
        call.cancel()  # httpx closes the connection of a request it abandons
        with pytest.raises(asyncio.CancelledError):
            await call
    await asyncio.wait_for(back.cancelled.wait(), 10)


@pytest.mark.parametrize("what", ["endpoint", "feature", "stream"])
async def test_a_client_disconnect_cancels_the_handler(back: tuple[Back, str], what: str) -> None:
    obj, url = back
    request = {
        "endpoint": httpx.Request("POST", f"{url}/Back/slow", content=b""),
        "feature": httpx.Request("GET", f"{url}/Back/wait"),
        "stream": httpx.Request("POST", f"{url}/Back/late", content=b""),
    }[what]
    await _leave_early(obj, request)


async def test_a_raw_socket_closed_mid_request_cancels_the_handler(
    back: tuple[Back, str],
) -> None:
    obj, url = back
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /Back/slow HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
    await writer.drain()
    await asyncio.wait_for(obj.started.wait(), 10)
    writer.close()
    await writer.wait_closed()
    await asyncio.wait_for(obj.cancelled.wait(), 10)
