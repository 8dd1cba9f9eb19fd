"""The NATS services protocol: $SRV.PING / INFO / STATS, parsed with nats-py's own micro types."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.micro.service import ServiceInfo, ServicePing, ServiceStats

from reverie._private.call.context import RequestContext
from reverie._private.runtime import DistributedRuntime
from reverie.errors import CallError

from .conftest import RuntimeFactory


async def gather(rt: DistributedRuntime, subject: str, wait: float = 0.3) -> list[dict[str, Any]]:
    """All answers to one request (every service instance answers)."""
    inbox = rt.nc.new_inbox()
    answers: list[dict[str, Any]] = []

    async def on(msg: Any) -> None:
        answers.append(json.loads(msg.data))

    sub = await rt.nc.subscribe(inbox, cb=on)
    await rt.nc.publish(subject, b"", reply=inbox)
    await asyncio.sleep(wait)
    await sub.unsubscribe()
    return answers


async def echo(req: Any, ctx: RequestContext) -> Any:
    if req == "fail":
        raise ValueError("bad input")
    return req


async def test_ping_info_stats(make_runtime: RuntimeFactory) -> None:
    a = await make_runtime(worker_id="a1")
    b = await make_runtime(worker_id="b1")
    for rt in (a, b):
        comp = rt.namespace("ns").component("svc")
        comp.set_info(version="1.2.3", description="an echo service")
        await comp.endpoint("echo").serve(echo, streaming=False, idempotent=True)
    await a.namespace("ns").component("other").endpoint("x").serve(echo, streaming=False)
    c = b.namespace("ns").component("svc").endpoint("echo").client(router="direct:a1")
    await c.wait_for_workers(2, 5)
    await c.call(1)
    await c.call(2)
    with pytest.raises(CallError, match="bad input"):  # counted as an error in $SRV.STATS
        await c.call("fail")

    pings = [ServicePing.from_dict(p) for p in await gather(b, "$SRV.PING")]
    assert sorted((p.name, p.id) for p in pings) == [("other", "a1"), ("svc", "a1"), ("svc", "b1")]
    by_name = await gather(b, "$SRV.PING.svc")
    assert sorted(p["id"] for p in by_name) == ["a1", "b1"]
    by_id = await gather(b, "$SRV.PING.svc.b1")
    assert [p["id"] for p in by_id] == ["b1"]

    infos = [ServiceInfo.from_dict(i) for i in await gather(b, "$SRV.INFO.svc.a1")]
    assert len(infos) == 1
    info = infos[0]
    assert info.version == "1.2.3" and info.description == "an echo service"
    assert info.metadata["reverie.namespace"] == "ns"
    assert [(e.name, e.subject, e.queue_group) for e in info.endpoints] == [
        ("echo", "rv.ns.svc.echo", "rv")
    ]
    assert info.endpoints[0].metadata["idempotent"] == "true"

    stats = [ServiceStats.from_dict(s) for s in await gather(b, "$SRV.STATS.svc.a1")]
    ep = stats[0].endpoints[0]
    assert ep.name == "echo" and ep.num_requests == 3 and ep.num_errors == 1
    assert ep.last_error == "ValueError: bad input"
    assert ep.processing_time > 0 and ep.average_processing_time > 0
    all_stats = await gather(b, "$SRV.STATS")
    assert len(all_stats) == 3


async def test_a_stopped_component_stops_answering(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(worker_id="z1")
    served = await rt.namespace("ns").component("gone").endpoint("e").serve(echo, streaming=False)
    assert [p["name"] for p in await gather(rt, "$SRV.PING.gone")] == ["gone"]
    await served.stop()
    assert await gather(rt, "$SRV.PING.gone") == []
