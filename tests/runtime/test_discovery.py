"""Discovery: leases in KV, expiry of a crashed process, watching, readiness, blueprints."""

from __future__ import annotations

from typing import Any

import pytest

from reverie._private.call.context import RequestContext
from reverie._private.runtime import DistributedRuntime
from reverie.errors import ConfigError, NoWorkersError

from .conftest import RuntimeFactory, eventually


async def echo(req: Any, ctx: RequestContext) -> Any:
    return req


async def test_register_watch_and_clean_shutdown(make_runtime: RuntimeFactory) -> None:
    caller = await make_runtime()
    client = caller.namespace("ns").component("svc").endpoint("echo").client()
    assert await client.wait_for_workers(0, 2) == []
    a = await make_runtime(worker_id="inst-a")
    b = await make_runtime(worker_id="inst-b")
    for rt in (a, b):
        await rt.namespace("ns").component("svc").endpoint("echo").serve(echo, streaming=False)
    assert await client.wait_for_workers(2, 5) == ["inst-a", "inst-b"]
    await a.close()  # clean shutdown removes the key at once (well within the 10 s lease)
    await eventually(lambda: client.workers() == ["inst-b"], 3)


async def test_a_served_endpoint_can_stop_alone(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime()
    served = await rt.namespace("ns").component("svc").endpoint("echo").serve(echo, streaming=False)
    client = rt.namespace("ns").component("svc").endpoint("echo").client()
    await client.wait_for_workers(1, 5)
    await served.stop()
    await eventually(lambda: not client.workers(), 3)


async def test_a_crashed_process_expires_within_its_lease(make_runtime: RuntimeFactory) -> None:
    watcher = await make_runtime()
    crashed = await make_runtime(lease_ttl=1.0)
    await crashed.namespace("ns").component("svc").endpoint("echo").serve(echo, streaming=False)
    client = watcher.namespace("ns").component("svc").endpoint("echo").client()
    await client.wait_for_workers(1, 5)
    # Crash: stop refreshing and drop the connection without deregistering.
    assert crashed.leases._task is not None
    crashed.leases._task.cancel()
    crashed.leases._entries.clear()
    crashed._closing = True
    await crashed.nc.close()
    # TTL 1 s; the server's expiry marker reaches the watcher
    await eventually(lambda: not client.workers(), 5)


async def test_wait_for_workers_times_out_with_a_clear_error(runtime: DistributedRuntime) -> None:
    client = runtime.namespace("ns").component("ghost").endpoint("echo").client()
    with pytest.raises(NoWorkersError) as info:
        await client.wait_for_workers(2, 0.3)
    assert "ns/ghost/echo: wanted 2 live worker(s) within 0.3 s, found 0" in str(info.value)


async def test_component_readiness_primitive(make_runtime: RuntimeFactory) -> None:
    host = await make_runtime()
    with pytest.raises(NoWorkersError) as info:
        await host.wait_for_component("ns", "dep", timeout=0.2)
    assert "ns/dep: wanted 1 live worker(s)" in str(info.value)
    dep = await make_runtime(worker_id="dep-1")
    await dep.namespace("ns").component("dep").endpoint("a").serve(echo, streaming=False)
    await dep.namespace("ns").component("dep").endpoint("b").serve(echo, streaming=False)
    assert await host.wait_for_component("ns", "dep", timeout=5) == ["dep-1"]
    assert await host.namespace("ns").component("dep").wait_for_workers(1, 5) == ["dep-1"]


async def test_blueprints_round_trip(runtime: DistributedRuntime) -> None:
    assert await runtime.get_blueprint("ns", "svc") is None
    comp = runtime.namespace("ns").component("svc")
    await comp.put_blueprint('{"name": "svc", "endpoints": ["echo"]}')
    assert await comp.get_blueprint() == '{"name": "svc", "endpoints": ["echo"]}'
    await runtime.delete_blueprint("ns", "svc")
    assert await runtime.get_blueprint("ns", "svc") is None


async def test_registration_carries_what_callers_need(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(worker_id="i1")
    await (
        rt.namespace("ns")
        .component("svc")
        .endpoint("echo")
        .serve(echo, streaming=False, request_type=int, idempotent=True, metadata={"gpu": 1})
    )
    client = rt.namespace("ns").component("svc").endpoint("echo").client()
    await client.wait_for_workers(1, 5)
    info = client.watcher.info("i1")
    assert info is not None
    assert info["subject"] == "rv.ns.svc.echo.i1"
    assert info["idempotent"] is True and info["streaming"] is False
    assert info["request_type"] == "int" and info["metadata"] == {"gpu": 1}


def test_names_must_be_subject_tokens() -> None:
    rt = DistributedRuntime("nats://127.0.0.1:1", "x", 10.0)
    with pytest.raises(ConfigError) as info:
        rt.namespace("my.ns")
    assert "namespace name 'my.ns' cannot be used on NATS" in str(info.value)
    assert "rename the namespace" in str(info.value)
    with pytest.raises(ConfigError) as info2:
        rt.namespace("ns").component("svc").endpoint("a b")
    assert "endpoint name 'a b'" in str(info2.value)
    with pytest.raises(ValueError) as info3:
        DistributedRuntime("nats://127.0.0.1:1", "x", 0.5)
    assert "lease_ttl=0.5 is below the 1 s minimum" in str(info3.value)


async def _consumers(rt: DistributedRuntime) -> list[Any]:
    return list(await rt.js._jsm.consumers_info("KV_rv_workers"))


async def test_watches_leave_no_consumer_on_the_server(make_runtime: RuntimeFactory) -> None:
    """A watch's consumer is deleted when the watch ends (nats-py only unsubscribes: the
    server kept it 5 minutes, and refuses a stream's 1001st consumer), and one whose process
    died goes after WATCH_IDLE seconds instead of nats-py's 5 minutes."""
    from reverie._private.runtime.discovery import WATCH_IDLE

    server = await make_runtime(worker_id="srv")
    await server.namespace("ns").component("svc").endpoint("echo").serve(echo, streaming=False)
    checker = await make_runtime()  # makes no watch of its own
    caller = await make_runtime()
    await caller.namespace("ns").component("svc").endpoint("echo").client().wait_for_workers(1, 5)
    await caller.wait_for_component("ns", "svc", timeout=5)
    live = await _consumers(checker)
    assert len(live) == 2, live
    assert all(c.config.inactive_threshold == WATCH_IDLE for c in live), live
    regs = await caller.registrations()
    assert [(r["endpoint"], r["worker"]) for r in regs] == [("echo", "srv")]
    assert len(await _consumers(checker)) == 2  # registrations() makes no consumer
    await caller.close()
    assert await _consumers(checker) == []


async def test_a_watch_that_cannot_start_names_why(
    nats_server: Any, make_runtime: RuntimeFactory
) -> None:
    import nats
    from nats.js.api import StreamConfig

    from reverie.errors import TransportError

    # the workers bucket made beforehand with room for one consumer: the second watch is refused
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jetstream().add_stream(
            StreamConfig(
                name="KV_rv_workers",
                subjects=["$KV.rv_workers.>"],
                max_msgs_per_subject=1,
                allow_msg_ttl=True,
                allow_rollup_hdrs=True,
                max_consumers=1,
            )
        )
    finally:
        await nc.close()
    rt = await make_runtime()
    await rt.namespace("ns").component("a").endpoint("e").client().wait_for_workers(0, 5)
    refused = rt.namespace("ns").component("b").endpoint("e").client().watcher
    await eventually(lambda: refused.last_error is not None, 10)
    with pytest.raises(TransportError) as info:
        await refused.ready(0.01)
    assert "ns/b/e: could not read the worker list from the NATS KV bucket 'rv_workers'" in str(
        info.value
    )
    assert "maximum consumers limit reached" in str(info.value)
