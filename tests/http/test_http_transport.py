"""HttpTransport on the Plug stack: its failure messages, and its cap on requests in flight.

Broken peers are real sockets (asyncio servers that answer wrongly on purpose)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from reverie import endpoint, service
from reverie._private.call.context import RequestContext
from reverie._private.declare.service import get_meta
from reverie._private.host.host import Host
from reverie._private.http.attach import attach_http
from reverie._private.http.server import HttpServer
from reverie._private.transports.http import HttpTransport
from reverie.errors import ServiceError, TransportError, WorkerLostError
from tests.http.services import Feed

COUNT = get_meta(Feed).endpoints["count"]
DOUBLE = get_meta(Feed).endpoints["double"]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _peer(answer: bytes, *, cut: bool = False) -> asyncio.Server:
    """A server that reads a request head, writes ``answer`` and closes (``cut``: resets)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if cut:
            writer.transport.abort()
        else:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _url(server: asyncio.Server) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/Feed"


async def test_a_stream_without_its_end_event_is_instance_lost() -> None:
    server = await _peer(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"connection: close\r\n\r\ndata: 0\n\ndata: 1\n\n"
    )
    try:
        t = HttpTransport(_url(server))
        got: list[int] = []
        with pytest.raises(
            WorkerLostError,
            match=rf"the stream from {_url(server)}/count ended without its end "
            rf"event",
        ):
            async for item in t.stream(COUNT, 5, RequestContext()):
                got.append(item)
        assert got == [0, 1]
    finally:
        server.close()


async def test_a_stream_cut_mid_body_is_instance_lost() -> None:
    server = await _peer(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n9\r\ndata: 0\n\n\r\n5\r\ndat",
        cut=True,
    )
    try:
        t = HttpTransport(_url(server))
        got: list[int] = []
        with pytest.raises(
            WorkerLostError,
            match=rf"the stream from {_url(server)}/count broke: POST "
            rf"{_url(server)}/count: RemoteProtocolError",
        ):
            async for item in t.stream(COUNT, 5, RequestContext()):
                got.append(item)
        assert got == [0]
    finally:
        server.close()


async def test_a_non_reverie_error_answer_names_the_call_and_the_body() -> None:
    server = await _peer(
        b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 11\r\nconnection: close\r\n\r\nproxy oops!"
    )
    try:
        t = HttpTransport(_url(server))
        with pytest.raises(
            ServiceError, match=rf"POST {_url(server)}/double answered 502: b'proxy oops!'"
        ) as info:
            await t.call(DOUBLE, 2, RequestContext("rid-1"))
        assert info.value.status == 502 and info.value.request_id == "rid-1"
    finally:
        server.close()


async def test_connection_refused_is_a_transport_error_naming_the_call() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = HttpTransport(f"http://127.0.0.1:{port}/Feed")
    with pytest.raises(
        TransportError, match=rf"POST http://127.0.0.1:{port}/Feed/double: ConnectError"
    ):
        await t.call(DOUBLE, 2, RequestContext())


@service(namespace="httptests")
class Gate:
    """Holds every call until the test opens the gate; counts calls inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.open = asyncio.Event()
        self.two_inside = asyncio.Event()

    @endpoint()
    async def hold(self) -> int:
        self.inside += 1
        self.most = max(self.most, self.inside)
        if self.inside == 2:
            self.two_inside.set()
        try:
            await self.open.wait()
        finally:
            self.inside -= 1
        return self.most


async def test_max_connections_caps_requests_in_flight() -> None:
    host = Host(env={}, name="gate")
    await host.start(Gate)
    gate: Gate = host.instance("Gate").obj
    try:
        async with HttpServer(host, port=0, access_log=False) as srv:
            t = HttpTransport(f"{srv.url}/Gate", max_connections=2)
            hold = get_meta(Gate).endpoints["hold"]
            calls = [asyncio.ensure_future(t.call(hold, None, RequestContext())) for _ in range(4)]
            # All four tasks ran their first step before any request reached the server: two
            # hold a slot (inside the handler), two wait for one.
            await asyncio.wait_for(gate.two_inside.wait(), 10)
            slots = t.via._slots  # type: ignore[attr-defined]
            assert gate.inside == 2 and len(slots._waiters) == 2
            gate.open.set()
            results = await asyncio.wait_for(asyncio.gather(*calls), 10)
            assert gate.most == 2 and max(results) == 2
    finally:
        await host.stop()


async def test_a_url_of_the_host_itself_is_called_in_process_leaving_the_context_alone() -> None:
    host = Host(env={}, name="selfcall")
    await host.start(Feed)
    try:
        app = attach_http(host)
        t = HttpTransport("local://selfcall/Feed", via=app.transport)  # no server runs
        ctx = RequestContext("rid-self")
        assert await t.call(DOUBLE, 21, ctx) == 42
        assert [i async for i in t.stream(COUNT, 3, ctx)] == [0, 1, 2]
        # The host set the endpoint's default deadline and its transport on a copy only.
        assert ctx.deadline is None and ctx.plugs is None
        assert t.plug.transport is app.transport
    finally:
        await host.stop()
