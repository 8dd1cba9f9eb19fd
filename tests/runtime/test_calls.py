"""Unary calls over NATS: results, errors as themselves, context, deadlines, cancellation."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from reverie._private.call.context import CURRENT, RequestContext, current_context
from reverie._private.runtime import DistributedRuntime
from reverie.errors import (
    DeadlineExceededError,
    NoWorkersError,
    RemoteError,
    ServiceError,
    ValidationError,
    WorkerLostError,
)

from .conftest import RuntimeFactory, eventually


@dataclasses.dataclass
class Point:
    x: int
    y: int


async def serve(rt: DistributedRuntime, name: str, handler: Any, **kw: Any) -> None:
    kw.setdefault("streaming", False)
    await rt.namespace("ns").component("svc").endpoint(name).serve(handler, **kw)


def client(rt: DistributedRuntime, name: str, **kw: Any) -> Any:
    return rt.namespace("ns").component("svc").endpoint(name).client(**kw)


async def test_typed_request_and_response(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()

    async def move(p: Point, ctx: RequestContext) -> Point:
        assert isinstance(p, Point)
        return Point(p.x + 1, p.y + 1)

    await serve(server, "move", move, request_type=Point, response_type=Point)
    plain = client(caller, "move")
    typed = client(caller, "move", response_type=Point)
    await plain.wait_for_workers(1, 5)
    assert await plain.call(Point(1, 2)) == {"x": 2, "y": 3}
    assert await typed.call({"x": 5, "y": 5}) == Point(6, 6)


async def test_invalid_request_comes_back_as_validation_error(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()

    async def move(p: Point, ctx: RequestContext) -> Point:
        return p

    await serve(server, "move", move, request_type=Point)
    c = client(caller, "move")
    await c.wait_for_workers(1, 5)
    ctx = RequestContext("rid-7")
    with pytest.raises(ValidationError) as info:
        await c.call({"x": "one", "y": 2}, ctx)
    assert "x: expected int" in str(info.value)
    assert info.value.request_id == "rid-7"


async def test_handler_errors_travel_with_type_message_and_request_id(
    make_runtime: RuntimeFactory,
) -> None:
    server, caller = await make_runtime(), await make_runtime()

    async def boom(req: Any, ctx: RequestContext) -> Any:
        raise KeyError("no such thing")

    async def teapot(req: Any, ctx: RequestContext) -> Any:
        raise ServiceError(418, "short and stout")

    await serve(server, "boom", boom)
    await serve(server, "teapot", teapot)
    await client(caller, "boom").wait_for_workers(1, 5)
    await client(caller, "teapot").wait_for_workers(1, 5)
    with pytest.raises(RemoteError) as info:
        await client(caller, "boom").call(1, RequestContext("rid-1"))
    err = info.value
    assert err.remote_type == "KeyError" and err.request_id == "rid-1"
    assert str(err) == "svc.boom: 'no such thing' [KeyError] (request rid-1)"
    with pytest.raises(ServiceError) as info2:
        await client(caller, "teapot").call(1)
    assert info2.value.status == 418 and info2.value.message == "short and stout"


async def test_context_travels_and_is_current_in_the_handler(make_runtime: RuntimeFactory) -> None:
    leaf_rt, mid_rt, caller = await make_runtime(), await make_runtime(), await make_runtime()
    seen: dict[str, Any] = {}

    async def leaf(req: Any, ctx: RequestContext) -> Any:
        cur = current_context()
        assert cur is ctx
        seen["leaf"] = (ctx.request_id, ctx.remaining(), ctx.trace)
        return "leaf"

    leaf_client = client(mid_rt, "leaf")

    async def mid(req: Any, ctx: RequestContext) -> Any:
        await asyncio.sleep(0)  # suspends: continues in its own Task with the context set
        assert current_context() is ctx
        # a downstream call made inside the handler carries the same id and deadline
        return await leaf_client.call(None)

    await serve(leaf_rt, "leaf", leaf)
    await serve(mid_rt, "mid", mid)
    await leaf_client.wait_for_workers(1, 5)
    c = client(caller, "mid")
    await c.wait_for_workers(1, 5)
    ctx = RequestContext("req-42", time.monotonic() + 5.0, {"traceparent": "00-abc-def-01"})
    assert await c.call(None, ctx) == "leaf"
    rid, remaining, trace = seen["leaf"]
    assert rid == "req-42"
    assert trace == {"traceparent": "00-abc-def-01"}
    assert remaining is not None and 0 < remaining <= 5.0
    assert CURRENT.get() is None  # nothing leaks into the caller


async def test_deadline_exceeded_and_handler_cancelled(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()
    stopped = asyncio.Event()

    async def sleepy(req: Any, ctx: RequestContext) -> Any:
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()

    await serve(server, "sleepy", sleepy)
    c = client(caller, "sleepy")
    await c.wait_for_workers(1, 5)
    with pytest.raises(DeadlineExceededError) as info:
        await c.call(None, RequestContext("rid-d", time.monotonic() + 0.2))
    assert "deadline passed" in str(info.value) and info.value.request_id == "rid-d"
    await asyncio.wait_for(stopped.wait(), 5)
    with pytest.raises(DeadlineExceededError) as info2:
        await c.call(None, RequestContext("rid-e", time.monotonic() - 1))
    assert "deadline passed before the call" in str(info2.value)


async def test_cancelling_the_caller_cancels_the_handler(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def sleepy(req: Any, ctx: RequestContext) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.set()
            raise

    await serve(server, "sleepy", sleepy)
    c = client(caller, "sleepy")
    await c.wait_for_workers(1, 5)
    task = asyncio.create_task(c.call(None))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    await asyncio.wait_for(stopped.wait(), 5)
    assert not server.serving


async def test_no_workers_is_immediate_and_says_what_to_do(runtime: DistributedRuntime) -> None:
    with pytest.raises(NoWorkersError) as info:
        await client(runtime, "nobody").call(1)
    text = str(info.value)
    assert "no live worker serves ns/svc/nobody" in text
    assert "start a process serving ns/svc" in text


async def test_unary_and_streaming_mismatch_is_explained(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()

    async def one(req: Any, ctx: RequestContext) -> Any:
        return 1

    async def many(req: Any, ctx: RequestContext) -> Any:
        yield 1

    await serve(server, "one", one)
    await serve(server, "many", many, streaming=True)
    await client(caller, "one").wait_for_workers(1, 5)
    await client(caller, "many").wait_for_workers(1, 5)
    with pytest.raises(ValidationError) as info:
        await client(caller, "many").call(None)
    assert "ns/svc/many is a streaming endpoint; call it with stream()" in str(info.value)
    with pytest.raises(ValidationError) as info2:
        async for _ in client(caller, "one").stream(None):
            pass
    assert "ns/svc/one is a unary endpoint; call it with call()" in str(info2.value)


async def test_malformed_request_from_a_raw_client(make_runtime: RuntimeFactory) -> None:
    server = await make_runtime(worker_id="srv")

    async def one(req: Any, ctx: RequestContext) -> Any:
        return 1

    await serve(server, "one", one)
    from reverie._private.transports.codec import msgpack_decode

    reply = await server.nc.request("rv.ns.svc.one.srv", b"not msgpack", timeout=5)
    kind, err = msgpack_decode(reply.data)
    assert kind == 2 and err["code"] == "invalid_argument"
    assert "malformed request on rv.ns.svc.one.srv" in err["message"]
    # the shared queue-group subject answers too
    from reverie._private.transports.codec import msgpack_encode

    reply = await server.nc.request("rv.ns.svc.one", msgpack_encode([None, None, 0]), timeout=5)
    assert msgpack_decode(reply.data) == [0, 0, 1]


async def test_close_deregisters_at_once_and_lets_calls_finish(
    make_runtime: RuntimeFactory,
) -> None:
    """The worker leaves the list while its call still runs (the call ends only when the test
    lets it, after seeing that), and the call then finishes: no race with a sleep."""
    server, caller = await make_runtime(), await make_runtime()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(req: Any, ctx: RequestContext) -> Any:
        started.set()
        await release.wait()
        return "done"

    await serve(server, "slow", slow)
    c = client(caller, "slow")
    await c.wait_for_workers(1, 5)
    task = asyncio.create_task(c.call(None))
    await asyncio.wait_for(started.wait(), 5)
    closing = asyncio.create_task(server.close(grace=60))
    await eventually(lambda: not c.workers(), 30)  # bounded; the event is the list emptying
    assert not task.done() and not closing.done()  # the close waits for the running call
    release.set()
    assert await asyncio.wait_for(task, 30) == "done"
    await closing


async def test_close_ends_calls_past_the_grace_period(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(worker_id="leaving"), await make_runtime()
    started = asyncio.Event()

    async def stuck(req: Any, ctx: RequestContext) -> Any:
        started.set()
        await asyncio.sleep(30)

    await serve(server, "stuck", stuck)
    c = client(caller, "stuck")
    await c.wait_for_workers(1, 5)
    task = asyncio.create_task(c.call(None))
    await asyncio.wait_for(started.wait(), 5)
    await server.close(grace=0.1)
    with pytest.raises(WorkerLostError) as info:
        await asyncio.wait_for(task, 5)
    assert "worker leaving shut down while running the call" in str(info.value)
