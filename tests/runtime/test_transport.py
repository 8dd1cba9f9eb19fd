"""NatsTransport: the Transport interface over the runtime, and its error translation."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest

from reverie._private.call.context import RequestContext
from reverie._private.declare.service import EndpointMeta
from reverie._private.transports.nats import NatsTransport
from reverie.errors import CallError, DeadlineExceededError, NoWorkersError, TransportError

from .conftest import RuntimeFactory


def meta(name: str, streaming: bool) -> EndpointMeta:
    return EndpointMeta(
        name=name,
        method=name,
        streaming=streaming,
        request_param="n",
        request_type=int,
        response_type=int,
    )


async def test_call_and_stream_through_the_transport(make_runtime: RuntimeFactory) -> None:
    server, caller = await make_runtime(), await make_runtime()
    comp = server.namespace("ns").component("Calc")

    async def double(n: int, ctx: RequestContext) -> int:
        return n * 2

    async def upto(n: int, ctx: RequestContext) -> Any:
        for i in range(n):
            yield i

    await comp.endpoint("double").serve(double, streaming=False, request_type=int)
    await comp.endpoint("upto").serve(upto, streaming=True, request_type=int)
    transport = NatsTransport(caller, "ns", "Calc")
    assert transport.wire is True
    assert transport.describe() == f"nats:ns/Calc@{caller.url}"
    await transport.wait_for_workers(1, 5)
    assert await transport.call(meta("double", False), 21, RequestContext()) == 42
    assert [i async for i in transport.stream(meta("upto", True), 3, RequestContext())] == [0, 1, 2]
    await transport.aclose()


async def test_a_closed_runtime_is_a_transport_error(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime()
    transport = NatsTransport(rt, "ns", "Calc")
    await rt.close()
    with pytest.raises(TransportError) as info:
        await transport.call(meta("double", False), 1, RequestContext())
    assert "the runtime is closed" in str(info.value)


def test_nats_errors_are_translated_at_the_boundary() -> None:
    ctx = RequestContext("rid-x")
    where = "nats:ns/Calc/double"
    err = CallError.from_transport(nats.errors.NoRespondersError(), where, ctx.request_id)
    assert isinstance(err, NoWorkersError) and err.request_id == "rid-x"
    assert "no worker answered" in str(err)
    err2 = CallError.from_transport(
        nats.errors.TimeoutError(), "nats:ns/Calc/double", ctx.request_id
    )
    assert isinstance(err2, DeadlineExceededError)
    err3 = CallError.from_transport(
        nats.errors.ConnectionClosedError(), "nats:ns/Calc/double", ctx.request_id
    )
    assert isinstance(err3, TransportError)
    assert "nats:ns/Calc/double: ConnectionClosedError" in str(err3)
