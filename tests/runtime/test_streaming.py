"""Streams over NATS: order, errors, bounded memory with a slow consumer, cancellation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from reverie._private.call.context import RequestContext
from reverie._private.runtime import DistributedRuntime
from reverie.errors import DeadlineExceededError, RemoteError

from .conftest import RuntimeFactory


async def serve_stream(rt: DistributedRuntime, name: str, handler: Any, **kw: Any) -> None:
    await rt.namespace("ns").component("svc").endpoint(name).serve(handler, streaming=True, **kw)


def client(rt: DistributedRuntime, name: str, **kw: Any) -> Any:
    return rt.namespace("ns").component("svc").endpoint(name).client(**kw)


async def test_items_arrive_in_order_then_end(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()

    async def count(n: int, ctx: RequestContext) -> Any:
        for i in range(n):
            yield {"i": i}
            if i % 100 == 0:
                await asyncio.sleep(0)  # mixes single items and batches

    await serve_stream(server, "count", count, request_type=int)
    c = client(caller, "count")
    await c.wait_for_workers(1, 5)
    assert [x["i"] async for x in c.stream(1000)] == list(range(1000))
    assert [x async for x in c.stream(0)] == []


async def test_error_after_items(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()

    async def boom(n: int, ctx: RequestContext) -> Any:
        for i in range(n):
            yield i
        raise RuntimeError("ran dry")

    await serve_stream(server, "boom", boom, request_type=int)
    c = client(caller, "boom")
    await c.wait_for_workers(1, 5)
    got = []
    with pytest.raises(RemoteError) as info:
        async for x in c.stream(3, RequestContext("rid-s")):
            got.append(x)
    assert got == [0, 1, 2]
    assert info.value.remote_type == "RuntimeError" and info.value.request_id == "rid-s"
    assert "ran dry" in str(info.value)


async def test_slow_consumer_holds_the_producer_back(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()
    produced = 0

    async def firehose(req: Any, ctx: RequestContext) -> Any:
        nonlocal produced
        for i in range(100_000):
            produced += 1
            yield i

    await serve_stream(server, "firehose", firehose)
    c = client(caller, "firehose", window=16)
    await c.wait_for_workers(1, 5)
    stream = c.stream(None)
    consumed = 0
    async for _ in stream:
        consumed += 1
        if consumed % 10 == 0:
            await asyncio.sleep(0.01)  # a slow consumer
        # the producer never runs more than one window (plus the item in hand) ahead, and
        # the caller never buffers more than a window
        assert produced - consumed <= 16 + 1
        assert len(stream._buf) <= 16
        if consumed == 200:
            break
    await stream.aclose()
    await asyncio.sleep(0.2)
    assert produced <= 200 + 16 + 1


async def test_closing_the_iterator_cancels_the_producer(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()
    finished = asyncio.Event()
    closed_at: list[float] = []

    async def ticker(req: Any, ctx: RequestContext) -> Any:
        try:
            i = 0
            while True:
                yield i
                i += 1
                await asyncio.sleep(0.01)
        finally:
            closed_at.append(time.monotonic())
            finished.set()

    await serve_stream(server, "ticker", ticker)
    c = client(caller, "ticker")
    await c.wait_for_workers(1, 5)
    stream = c.stream(None)
    assert [await stream.__anext__() for _ in range(3)] == [0, 1, 2]
    t0 = time.monotonic()
    await stream.aclose()
    await asyncio.wait_for(finished.wait(), 5)
    assert closed_at[0] - t0 < 5  # no hang (bench/ measures the actual delay)
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert not server.serving


async def test_cancelling_the_consumer_task_cancels_the_producer(
    make_runtime: RuntimeFactory,
) -> None:
    server, caller = await make_runtime(), await make_runtime()
    finished = asyncio.Event()

    async def never(req: Any, ctx: RequestContext) -> Any:
        try:
            yield 0
            await asyncio.sleep(30)
            yield 1
        finally:
            finished.set()

    await serve_stream(server, "never", never)
    c = client(caller, "never")
    await c.wait_for_workers(1, 5)

    async def consume() -> None:
        async for _ in c.stream(None):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.wait_for(finished.wait(), 5)


async def test_stream_deadline(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()
    finished = asyncio.Event()

    async def slow(req: Any, ctx: RequestContext) -> Any:
        try:
            for i in range(100):
                yield i
                await asyncio.sleep(0.1)
        finally:
            finished.set()

    await serve_stream(server, "slow", slow)
    c = client(caller, "slow")
    await c.wait_for_workers(1, 5)
    got = []
    with pytest.raises(DeadlineExceededError) as info:
        async for x in c.stream(None, RequestContext("rid-t", time.monotonic() + 0.35)):
            got.append(x)
    assert 1 <= len(got) < 100
    assert "deadline passed" in str(info.value)
    await asyncio.wait_for(finished.wait(), 5)
