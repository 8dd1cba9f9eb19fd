"""Features over the runtime: a dependency's ``.plug`` in another process answers with the same
status, headers and body as in-process, streams included; closing a stream or cancelling the
caller cancels the handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from reverie import Host, attach_runtime
from reverie._private.http.attach import attach_http
from reverie._private.http.plug import Plug
from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.natsserver import NatsServer
from reverie.errors import DeadlineExceededError, NoWorkersError, TransportError
from tests.http.services import Feed, Reader, event


@pytest.fixture
async def server() -> AsyncIterator[NatsServer]:
    s = NatsServer()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        s.cleanup()


@dataclass
class Pair:
    local: Plug  # the Feed's features in its own host (in-process)
    remote: Plug  # the same features, from the Reader's host over NATS
    feed_host: Host
    reader_host: Host


@pytest.fixture
async def pair(server: NatsServer) -> AsyncIterator[Pair]:
    async with (
        await DistributedRuntime.connect(server.url) as rt1,
        await DistributedRuntime.connect(server.url) as rt2,
    ):
        feed_host, reader_host = Host(name="feedhost", env={}), Host(name="readerhost", env={})
        await attach_runtime(feed_host, rt1)
        await attach_runtime(reader_host, rt2)
        await feed_host.start(Feed)
        await reader_host.start(Reader, local={"Reader"})
        try:
            local = attach_http(feed_host).plug_for(feed_host.instance(Feed))
            remote = reader_host.instance(Reader).obj.feed.plug
            yield Pair(local, remote, feed_host, reader_host)
        finally:
            await reader_host.stop()
            await feed_host.stop()


def _same(a: Any, b: Any) -> None:
    assert (a.status, dict(a.headers), a.content) == (b.status, dict(b.headers), b.content)


CASES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("GET", ("hello",), {}),
    ("GET", ("items", 7), {"verbose": True}),
    ("GET", ("raw",), {}),
    ("GET", ("internal",), {}),
    ("GET", ("private",), {}),
    ("GET", ("fail",), {}),
    ("GET", ("teapot",), {}),
    ("GET", ("nowhere",), {}),
    ("DELETE", ("hello",), {}),
    ("GET", ("files", "a/b c"), {}),
    ("HEAD", ("hello",), {}),
]


@pytest.mark.parametrize(("method", "at", "query"), CASES)
async def test_same_status_headers_and_body_as_in_process(
    pair: Pair, method: str, at: tuple[Any, ...], query: dict[str, Any]
) -> None:
    rid = ("X-Request-Id", "rid-1")  # problem bodies name it
    a = await pair.local.with_header(*rid).at(*at).with_(**query).request(method)
    b = await pair.remote.with_header(*rid).at(*at).with_(**query).request(method)
    _same(a, b)
    assert pair.remote.uri == "runtime://httptests.feed"


async def test_bodies_and_problem_bodies_cross(pair: Pair) -> None:
    local = pair.local.with_header("X-Request-Id", "rid-2")
    remote = pair.remote.with_header("X-Request-Id", "rid-2")
    a = await local.at("items").post(json={"name": "x", "qty": 2})
    b = await remote.at("items").post(json={"name": "x", "qty": 2})
    _same(a, b)
    assert b.status == 200
    bad_a = await local.at("items").post(json={"name": "x", "qty": "many"})
    bad_b = await remote.at("items").post(json={"name": "x", "qty": "many"})
    _same(bad_a, bad_b)
    assert bad_b.status == 422 and "qty" in bad_b.text
    err = (await pair.remote.at("teapot").get()).error()
    assert err is not None and err.status == 418 and err.message == "I am a teapot"
    assert (await pair.remote.at("fail").get()).status == 500


async def test_internal_access_for_a_dependent_only(pair: Pair) -> None:
    assert (await pair.remote.at("internal").get()).status == 200
    # the dependent's own Authorization header wins over the grant
    denied = await pair.remote.at("internal").with_header("Authorization", "Bearer nope").get()
    assert denied.status == 403
    assert "does not grant it" in denied.text


async def test_streamed_bodies_arrive_piece_by_piece(pair: Pair) -> None:
    for plug in (pair.local, pair.remote):
        async with plug.at("chunks").stream() as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/plain")
            body = b"".join([c async for c in resp.aiter_bytes()])
        async with plug.at("ticks").with_(n=4).stream() as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            events = [(e["event"], e["data"]) async for e in resp.aiter_events()]
        assert body == b"abc"
        assert events == [*(("message", str(i)) for i in range(4)), ("end", "null")]
    a = await pair.local.at("chunks").get()
    b = await pair.remote.at("chunks").get()
    _same(a, b)


async def test_closing_a_stream_cancels_the_producer(pair: Pair) -> None:
    async with pair.remote.at("endless").with_(tag="nats-close").stream() as resp:
        async for line in resp.aiter_lines():
            assert line == "tick"
            break
    await asyncio.wait_for(event("closed:nats-close").wait(), 10)


async def test_cancelled_caller_cancels_the_handler(pair: Pair) -> None:
    ev, started = event("feature-slow:cancelled"), event("feature-slow:started")
    ev.clear()
    started.clear()
    call = asyncio.ensure_future(pair.remote.at("slow").with_(seconds=30).get())
    await asyncio.wait_for(started.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.wait_for(ev.wait(), 10)


async def test_deadline_is_a_504_answer_as_in_process(pair: Pair) -> None:
    a = await pair.local.with_timeout(0.2).at("slow").get()
    b = await pair.remote.with_timeout(0.2).at("slow").get()
    assert a.status == b.status == 504
    assert a.json()["code"] == b.json()["code"] == "deadline_exceeded"
    with pytest.raises(DeadlineExceededError, match="deadline passed before sending"):
        await pair.remote.with_timeout(0).at("hello").get()


async def test_no_worker_is_unavailable(server: NatsServer) -> None:
    async with await DistributedRuntime.connect(server.url) as rt:
        from reverie._private.runtime.features import runtime_plug

        plug = runtime_plug(rt, "httptests", "Nobody")
        with pytest.raises(NoWorkersError, match="no live worker serves httptests/Nobody"):
            await plug.at("hello").get()


async def test_a_body_over_what_one_message_carries_is_refused_naming_the_limit(
    pair: Pair,
) -> None:
    with pytest.raises(TransportError, match=r"over the \d+ one runtime message carries"):
        await pair.remote.at("items").post(content=b"x" * (2 << 20))
    ok = await pair.remote.at("items").post(json={"name": "x" * 500_000})
    assert ok.status == 200  # half a megabyte fits
