"""A client that goes away cancels its handler over HTTP: unary endpoints, features, and a stream
still waiting for its first item (issue 16 item 3; the conformance suite checks the same through
HttpTransport's caller cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from reverie import endpoint, feature, service
from reverie._private.host.host import Host
from reverie._private.http.app import app_for
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


@pytest.fixture(params=["reverie", "uvicorn"])
async def back(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Back, str]]:
    """Served by Reverie's HttpServer (its connections report a close) or by plain uvicorn
    (the application's sweeper watches), with no error logged either way."""
    host = Host(env={}, name="disconnect")
    await host.start(Back)
    try:
        if request.param == "reverie":
            async with HttpServer(host, port=0, access_log=False, log_level="warning") as srv:
                yield host.instance(Back).obj, srv.url
        else:
            async with _plain_uvicorn(app_for(host)) as url:
                yield host.instance(Back).obj, url
    finally:
        await host.stop()
    logged = caplog.get_records("setup") + caplog.get_records("call") + caplog.records
    errors = [r for r in logged if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@contextlib.asynccontextmanager
async def _plain_uvicorn(app: Any) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections wait in the backlog until uvicorn accepts them
    config = uvicorn.Config(app, lifespan="off", log_config=None, http="httptools")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _leave_early(back: Back, request: httpx.Request) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        call = asyncio.ensure_future(http.send(request))
        await asyncio.wait_for(back.started.wait(), 10)
        call.cancel()  # httpx closes the connection of a request it abandons
        with pytest.raises(asyncio.CancelledError):
            await call
    await asyncio.wait_for(back.cancelled.wait(), 10)


@pytest.mark.parametrize("what", ["endpoint", "feature", "feature again", "stream"])
async def test_a_client_disconnect_cancels_the_handler(back: tuple[Back, str], what: str) -> None:
    obj, url = back
    request = {
        "endpoint": httpx.Request("POST", f"{url}/Back/slow", content=b""),
        "feature": httpx.Request("GET", f"{url}/Back/wait"),
        "feature again": httpx.Request("GET", f"{url}/Back/wait"),
        "stream": httpx.Request("POST", f"{url}/Back/late", content=b""),
    }[what]
    if what == "feature again":  # a path seen before takes the application's fast path
        await _leave_early(obj, httpx.Request("GET", f"{url}/Back/wait"))
        obj.started.clear()
        obj.cancelled.clear()
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


async def test_a_client_gone_while_its_body_is_read_is_no_error(back: tuple[Back, str]) -> None:
    # Half a body, then the socket closes: the request ends quietly (the fixture checks the
    # log), and the server still answers.
    _, url = back
    host, port = url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /Back/slow HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{url}/health/live")).status_code == 200
