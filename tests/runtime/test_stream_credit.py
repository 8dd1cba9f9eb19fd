"""Stream credit in items and in bytes, and batches the producer cannot encode, on both paths
between processes (NATS and the direct plane)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reverie._private.call.context import RequestContext
from reverie._private.runtime import DistributedRuntime
from reverie._private.transports.codec import msgpack_decode, msgpack_encode
from reverie.errors import RemoteError

from .conftest import RuntimeFactory


@pytest.fixture(params=["nats", "direct"])
async def pair(
    request: pytest.FixtureRequest, make_runtime: RuntimeFactory
) -> tuple[DistributedRuntime, DistributedRuntime]:
    direct = request.param == "direct"
    return await make_runtime(direct=direct), await make_runtime(direct=direct)


async def serve_stream(rt: DistributedRuntime, name: str, handler: Any) -> None:
    await rt.namespace("ns").component("svc").endpoint(name).serve(handler, streaming=True)


def client(rt: DistributedRuntime, name: str, **kw: Any) -> Any:
    return rt.namespace("ns").component("svc").endpoint(name).client(**kw)


async def test_a_window_of_bytes_holds_a_producer_of_large_items_back(
    pair: tuple[DistributedRuntime, DistributedRuntime],
) -> None:
    server, caller = pair
    produced = 0

    async def big(req: Any, ctx: RequestContext) -> Any:
        nonlocal produced
        for _ in range(100):
            produced += 1
            yield b"x" * 10_000
            await asyncio.sleep(0)  # one frame per item

    await serve_stream(server, "big", big)
    c = client(caller, "big", window=1000, window_bytes=50_000)
    await c.wait_for_workers(1, 5)
    stream = c.stream(None)
    consumed = 0
    async for item in stream:
        assert len(item) == 10_000
        consumed += 1
        # frames start within the 50 kB window: at most 5 of ~10 kB are buffered here; the
        # producer holds one encoded frame and one item besides (the item window, 1000, is
        # never what holds it back)
        assert len(stream._buf) <= 5
        assert produced - consumed <= 5 + 2
        # a slow consumer: a round trip to nats-server per item lets the producer run ahead as
        # far as the window allows (an event to wait for, not a length of time)
        await caller.nc.flush()
    assert consumed == 100


async def test_items_before_one_that_cannot_be_encoded_arrive_then_the_error(
    pair: tuple[DistributedRuntime, DistributedRuntime],
) -> None:
    server, caller = pair

    async def bad(req: Any, ctx: RequestContext) -> Any:
        yield 1
        yield 2
        yield object()  # in the same batch as 1 and 2

    await serve_stream(server, "bad", bad)
    c = client(caller, "bad")
    await c.wait_for_workers(1, 5)
    got = []
    with pytest.raises(RemoteError) as info:
        async for x in c.stream(None, RequestContext("rid-enc")):
            got.append(x)
    assert got == [1, 2]
    assert info.value.remote_type == "TypeError" and info.value.request_id == "rid-enc"
    assert "cannot serialise a value of type object" in str(info.value)


async def test_an_item_that_cannot_be_encoded_fails_the_stream_while_the_generator_waits(
    pair: tuple[DistributedRuntime, DistributedRuntime],
) -> None:
    server, caller = pair
    closed = asyncio.Event()

    async def bad_then_wait(req: Any, ctx: RequestContext) -> Any:
        try:
            yield 1
            yield object()
            await asyncio.Event().wait()  # the failure must not wait for this
            yield 2
        finally:
            closed.set()

    await serve_stream(server, "badwait", bad_then_wait)
    c = client(caller, "badwait")
    await c.wait_for_workers(1, 5)
    got = []

    async def consume() -> None:
        async for x in c.stream(None):
            got.append(x)

    with pytest.raises(RemoteError) as info:
        await asyncio.wait_for(consume(), 10)
    assert got == [1]
    assert "cannot serialise a value of type object" in str(info.value)
    await asyncio.wait_for(closed.wait(), 5)
    assert not server.serving


async def test_a_request_without_a_window_of_bytes_is_served(
    make_runtime: RuntimeFactory,
) -> None:
    """The request's fourth element is optional (docs/runtime.md): without it, only the item
    credit applies."""
    server = await make_runtime()

    async def count(n: int, ctx: RequestContext) -> Any:
        for i in range(n):
            yield i

    await (
        server.namespace("ns")
        .component("svc")
        .endpoint("count")
        .serve(count, streaming=True, request_type=int)
    )
    nc = server.nc
    inbox = nc.new_inbox()
    frames: list[Any] = []
    done = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        frames.append(msgpack_decode(msg.data))
        if frames[-1][0] in (1, 2, 5):
            done.set()

    await nc.subscribe(inbox, cb=on_msg)
    await nc.publish("rv.ns.svc.count", msgpack_encode([None, 300, 1000]), reply=inbox)
    await asyncio.wait_for(done.wait(), 10)
    items = [x for f in frames if f[0] in (4, 5) for x in f[2]] + [f[2] for f in frames if not f[0]]
    assert sorted(items) == list(range(300))
    assert frames[-1][0] == 5 and frames[-1][1] + len(frames[-1][2]) == 300  # LAST: items, end
