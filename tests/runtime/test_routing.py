"""Routers over three live instances: round_robin, random, direct, least_inflight."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from reverie._private.call.context import RequestContext
from reverie._private.runtime import DistributedRuntime, direct, make_router
from reverie.errors import ConfigError, NoWorkersError

from .conftest import RuntimeFactory


async def three(make_runtime: RuntimeFactory, delay: float = 0.0) -> list[DistributedRuntime]:
    out = []
    for name in ("i1", "i2", "i3"):
        rt = await make_runtime(worker_id=name)

        async def who(req: Any, ctx: RequestContext, rt: DistributedRuntime = rt) -> str:
            if delay:
                await asyncio.sleep(delay)
            return rt.worker_id

        await rt.namespace("ns").component("svc").endpoint("who").serve(who, streaming=False)
        out.append(rt)
    return out


def who(rt: DistributedRuntime, router: Any) -> Any:
    return rt.namespace("ns").component("svc").endpoint("who").client(router)


async def test_round_robin_is_the_default_and_even(make_runtime: RuntimeFactory) -> None:
    await three(make_runtime)
    caller = await make_runtime()
    c = caller.namespace("ns").component("svc").endpoint("who").client()
    await c.wait_for_workers(3, 5)
    got = [await c.call(None) for _ in range(9)]
    assert Counter(got) == {"i1": 3, "i2": 3, "i3": 3}
    assert got[:3] == sorted(got[:3]) or len(set(got[:3])) == 3


async def test_random_reaches_every_instance(make_runtime: RuntimeFactory) -> None:
    await three(make_runtime)
    caller = await make_runtime()
    c = who(caller, "random")
    await c.wait_for_workers(3, 5)
    got = {await c.call(None) for _ in range(60)}
    assert got == {"i1", "i2", "i3"}


async def test_direct_sends_only_to_the_named_instance(make_runtime: RuntimeFactory) -> None:
    await three(make_runtime)
    caller = await make_runtime()
    c = who(caller, direct("i2"))
    await c.wait_for_workers(3, 5)
    assert {await c.call(None) for _ in range(6)} == {"i2"}
    assert {await who(caller, "direct:i3").call(None) for _ in range(3)} == {"i3"}
    with pytest.raises(NoWorkersError) as info:
        await who(caller, "direct:i9").call(None)
    assert "worker 'i9' is not live (live: i1, i2, i3)" in str(info.value)


async def test_least_inflight_spreads_concurrent_calls(make_runtime: RuntimeFactory) -> None:
    await three(make_runtime, delay=0.2)
    caller = await make_runtime()
    c = who(caller, "least_inflight")
    await c.wait_for_workers(3, 5)
    got = await asyncio.gather(*(c.call(None) for _ in range(6)))
    assert Counter(got) == {"i1": 2, "i2": 2, "i3": 2}


def test_least_inflight_prefers_the_idle_instance() -> None:
    r = make_router("least_inflight")
    for _ in range(5):
        assert r.choose(["a", "b", "c"], {"a": 3, "b": 0, "c": 1}) == "b"


def test_unknown_router_names_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        make_router("fastest")
    text = str(info.value)
    assert "unknown router 'fastest'" in text
    assert "round_robin, random, least_inflight, direct:<worker id>" in text
