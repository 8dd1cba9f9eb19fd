"""serve_http: the bound port with port=0, a clear error for a taken port, graceful stop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reverie._private.host.host import Host
from reverie._private.http.server import HttpServer, serve_http
from tests.http.services import Feed


async def test_serve_http_reports_the_port_and_stops_when_cancelled() -> None:
    host = Host(env={}, name="srv")
    host.register(Feed)
    await host.start(Feed)
    got: asyncio.Queue[HttpServer] = asyncio.Queue()
    task = asyncio.create_task(serve_http(host, port=0, ready=got.put_nowait, access_log=False))
    try:
        srv = await asyncio.wait_for(got.get(), 10)
        assert srv.port > 0
        async with httpx.AsyncClient() as c:
            assert (await c.get(f"{srv.url}/Feed/hello")).json() == "hello"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await host.stop()
    async with httpx.AsyncClient() as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(f"{srv.url}/health/live")


async def test_a_taken_port_is_a_clear_error() -> None:
    host = Host(env={}, name="taken")
    async with HttpServer(host, port=0, access_log=False) as first:
        with pytest.raises(
            OSError,
            match=rf"cannot listen on 127.0.0.1:{first.port}: .*"
            r"choose another --port \(0 picks a free one\)",
        ):
            await HttpServer(host, port=first.port).start()


async def test_stop_lets_an_in_flight_request_finish() -> None:
    host = Host(env={}, name="graceful")
    host.register(Feed)
    await host.start(Feed)
    try:
        srv = HttpServer(host, port=0, access_log=False)
        await srv.start()
        async with httpx.AsyncClient() as c:
            pending = asyncio.create_task(c.get(f"{srv.url}/Feed/slow", params={"seconds": 0.3}))
            await asyncio.sleep(0.1)
            await srv.stop()
            r = await asyncio.wait_for(pending, 10)
            assert r.status_code == 200 and r.json() == "done"
    finally:
        await host.stop()
