"""The header-size cap of ``limits.protocol_class`` across reads: uvicorn's own httptools
protocol (with the cap) fed request bytes chunk by chunk, as the event loop hands them over, so
each case controls exactly where one read ends. The transport is a stand-in for the socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel
from uvicorn.config import Config
from uvicorn.server import ServerState

from reverie import feature, service
from reverie._private.host.host import Host
from reverie._private.http.app import app_for
from reverie._private.http.limits import HttpLimits, protocol_class

CAP = 1024


class Text(BaseModel):
    text: str


@service()
class Echo:
    @feature("GET:page")
    async def page(self) -> str:
        return "page"

    @feature("POST:echo")
    async def echo(self, body: Text) -> int:
        return len(body.text)


class Wire(asyncio.Transport):
    """The socket's side: what was written, and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.out = b""
        self.closed = False
        self.wrote = asyncio.Event()

    def write(self, data: Any) -> None:
        self.out += bytes(data)
        self.wrote.set()

    def pause_reading(self) -> None:  # uvicorn pauses a connection with pipelined requests
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        peers = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}
        return peers.get(name, default)


class Conn:
    """One connection of the capped protocol to a host serving ``Echo``."""

    def __init__(self, app: Any) -> None:
        config = Config(app, lifespan="off", access_log=False, log_config=None, proxy_headers=False)
        config.load()
        cls: Any = protocol_class(HttpLimits(max_header_size=CAP, header_timeout=None))
        self.proto = cls(config=config, server_state=ServerState(), app_state={})
        self.wire = Wire()
        self.proto.connection_made(self.wire)

    def feed(self, data: bytes) -> None:
        self.proto.data_received(data)

    async def answers(self, n: int) -> list[bytes]:
        """Until ``n`` responses (or a close) are on the wire: their status lines."""
        while self.wire.out.count(b"HTTP/1.1 ") < n and not self.wire.closed:
            self.wire.wrote.clear()
            await self.wire.wrote.wait()
        return [line.split(b"\r\n")[0] for line in self.wire.out.split(b"HTTP/1.1 ")[1:]]


@pytest.fixture
async def c() -> AsyncIterator[Conn]:
    """A connection to a started host serving ``Echo``; the host stops after the test."""
    host = Host(env={}, name="heads")
    host.register(Echo)
    await host.start(Echo)
    try:
        yield Conn(app_for(host))
    finally:
        await host.stop()


def get(pad: int = 0) -> bytes:
    return b"GET /Echo/page HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * pad + b"\r\n\r\n"


def post(size: int) -> bytes:
    body = b'{"text": "' + b"t" * size + b'"}'
    head = b"POST /Echo/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    return head + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


async def test_a_head_over_the_cap_across_reads_is_431(c: Conn) -> None:
    req = get(pad=CAP)
    c.feed(req[: CAP // 2])  # each read is below the cap, the head is not
    assert not c.wire.closed
    c.feed(req[CAP // 2 :])
    assert c.wire.closed
    assert c.wire.out.startswith(b"HTTP/1.1 431 ")
    assert b"exceed this host's limit of 1024 bytes" in c.wire.out


async def test_each_request_on_a_connection_has_its_own_count(c: Conn) -> None:
    for _ in range(3):  # three heads of 3/4 of the cap, each over two reads: under it alone
        req = get(pad=CAP * 3 // 4 - 60)
        c.feed(req[:400])
        c.feed(req[400:])
    assert await c.answers(3) == [b"200 OK"] * 3
    big = get(pad=CAP)
    c.feed(big[:100])
    c.feed(big[100:])
    assert (await c.answers(4))[3].startswith(b"431 ")


async def test_a_body_larger_than_the_cap_is_not_counted_as_head(c: Conn) -> None:
    req = post(CAP * 8)
    c.feed(req[:300])  # the head, then reads of twice the cap, each all body
    for i in range(300, len(req), CAP * 2):
        c.feed(req[i : i + CAP * 2])
    assert await c.answers(1) == [b"200 OK"]
    assert c.wire.out.endswith(str(CAP * 8).encode())


async def test_a_pipelined_head_after_a_large_body_is_not_refused(c: Conn) -> None:
    # One read holds a whole request with a body over the cap and the start of the next head:
    # the next head's share of that read is not known, so it must not count the body.
    second = get(pad=200)
    c.feed(post(CAP * 3) + second[:50])
    c.feed(second[50:])
    assert await c.answers(2) == [b"200 OK", b"200 OK"]


async def test_close_after_next_answers_the_next_request_and_closes(c: Conn) -> None:
    # What `rebalance` asks of an idle keep-alive connection: one more answer, then close.
    c.feed(get())
    assert await c.answers(1) == [b"200 OK"]
    assert b"connection: close" not in c.wire.out and not c.wire.closed
    c.proto.rv_close_after_next()
    c.feed(get())
    assert await c.answers(2) == [b"200 OK", b"200 OK"]
    assert c.wire.out.split(b"HTTP/1.1 ")[2].count(b"connection: close") == 1
    assert c.wire.closed
