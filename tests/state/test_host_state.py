"""Capture and restore in one host: start_instance(state=...), PUT @config-style restarts,
refusals that change nothing, and captures taken between requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from examples.counter.service import SID, Counter, CounterState, Front, Hit
from examples.counter.v2 import CounterV2
from reverie import Host, endpoint, on_start, service, state
from reverie.errors import RemoteError, StateError, SwapError, UnavailableError
from reverie.state import StateDocument


@service(sid=SID, namespace="examples", name="Counter")
class Broken:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @state.snapshot(name="counter")
    def save(self) -> CounterState:
        return CounterState(self.counts)

    @state.restore
    def load(self, s: CounterState) -> None:
        self.counts = s.counts

    @on_start
    async def boom(self) -> None:
        raise RuntimeError("no model file")


@dataclass
class Accounts:
    a: int
    b: int


@service
class Ledger:
    """Moves money in two steps with an await between them; the move fails after both."""

    debited = asyncio.Event()

    def __init__(self) -> None:
        self.a, self.b = 10, 0

    @endpoint()
    async def move(self, n: int) -> None:
        self.a -= n
        Ledger.debited.set()
        await asyncio.sleep(0.01)
        self.b += n
        raise RuntimeError("the bank is closed")

    @state.snapshot
    def save(self) -> Accounts:
        return Accounts(self.a, self.b)

    @state.restore
    def load(self, s: Accounts) -> None:
        self.a, self.b = s.a, s.b


def _host() -> Host:
    host = Host()
    host.register(Counter)  # Front depends on the counter's SID
    return host


async def _hits(host: Host, key: str, n: int) -> None:
    client = host.client("Counter")
    for _ in range(n):
        await client.hit(Hit(key))


async def test_capture_and_start_from_state() -> None:
    async with _host() as host:
        await host.start(Counter)
        await _hits(host, "a", 3)
        doc = await host.capture("Counter")
        assert isinstance(doc, StateDocument)
        assert (doc.service, doc.name, doc.version, doc.data) == (
            "Counter",
            "counter",
            1,
            {"counts": {"a": 3}},
        )
        other = await host.start_instance(Counter, path="copy", state=doc.to_json())
        assert other.obj.counts == {"a": 3}
        assert await host.client("copy").get("a") == 3


async def test_restart_in_place_keeps_state() -> None:
    async with _host() as host:
        await host.start(Front)
        front = host.client(Front)
        await front.hit(Hit("k", by=5))
        before = host.instance("Counter").obj
        await host.restart_instance("Counter", config={"label": "new"})
        inst = host.instance("Counter")
        assert inst.obj is not before and inst.obj.label == "new"
        assert await front.get("k") == 5  # the dependent's client still works, state kept


async def test_wrong_type_and_unknown_version_are_refused_and_nothing_changes() -> None:
    async with _host() as host:
        await host.start(Counter)
        wrong = StateDocument(service="X", name="sessions", version=1, data={})
        with pytest.raises(
            StateError,
            match=r"state 'sessions' \(captured from X\) is not its "
            r"state 'counter'",
        ):
            await host.start_instance(Counter, path="c2", state=wrong)
        assert "c2" not in host.instances
        newer = StateDocument(service="Counter", name="counter", version=7, data={})
        with pytest.raises(
            StateError,
            match=r"version 7 is unknown here: this implementation "
            r"reads version 1",
        ):
            await host.start_instance(Counter, path="c3", state=newer)
        older = StateDocument(service="Counter", name="counter", version=0, data={})
        with pytest.raises(StateError, match=r"has no @state\.migrate hook"):
            await host.start_instance(Counter, path="c4", state=older)
        bad = StateDocument(
            service="Counter", name="counter", version=1, data={"counts": {"a": "three"}}
        )
        with pytest.raises(StateError, match=r"does not fit CounterState"):
            await host.start_instance(Counter, path="c5", state=bad)
        with pytest.raises(StateError, match="not a state document"):
            await host.start_instance(Counter, path="c6", state=b'{"nope": 1}')
        assert sorted(host.instances) == ["Counter"]


async def test_migrate_hook_upgrades_an_older_capture() -> None:
    async with _host() as host:
        await host.start(Counter)
        await _hits(host, "a", 2)
        doc = await host.capture("Counter")
        v2 = await host.start_instance(CounterV2, path="v2", state=doc)
        assert v2.obj.counts["a"].value == 2 and v2.obj.counts["a"].hits == 0


async def test_capture_waits_for_calls_in_flight_and_holds_new_ones() -> None:
    async with _host() as host:
        await host.start(Counter)
        client = host.client("Counter")
        slow = asyncio.ensure_future(client.hit(Hit("a", delay=0.05)))
        await asyncio.sleep(0)  # the slow hit is in flight
        assert host.instance("Counter").active == 1
        doc = await host.capture("Counter")
        assert doc.data == {"counts": {"a": 1}}  # taken after the in-flight call, not before
        assert await slow == 1


async def test_capture_during_a_failing_request_is_consistent() -> None:
    async with Host() as host:
        await host.start(Ledger)
        client = host.client(Ledger)
        failing = asyncio.ensure_future(client.move(3))
        await asyncio.sleep(0)  # the move has debited, not credited yet, and will fail
        assert Ledger.debited.is_set()
        doc = await host.capture("Ledger")
        with pytest.raises(RemoteError, match="the bank is closed"):
            await failing
        # Taken after the failing request ended, never in its middle: both halves or none.
        assert doc.data == {"a": 7, "b": 3}


async def test_capture_of_a_stateless_service_says_why() -> None:
    async with _host() as host:
        await host.start(Front)
        with pytest.raises(
            StateError, match="Front: declares no state, so there is nothing to capture"
        ):
            await host.capture("Front")


async def test_swap_keeps_state_and_dependents_and_holds_calls() -> None:
    async with _host() as host:
        await host.start(Front)
        front = host.client(Front)
        for _ in range(3):
            await front.hit(Hit("k"))
        slow = asyncio.ensure_future(front.hit(Hit("k", delay=0.05)))
        await asyncio.sleep(0)
        swapping = asyncio.ensure_future(host.swap("Counter", CounterV2))
        await asyncio.sleep(0)
        held = asyncio.ensure_future(front.hit(Hit("k")))  # arrives during the swap: waits
        inst = await swapping
        assert await slow == 4  # finished on the old implementation
        assert await held == 5  # went to the new one
        assert inst.cls is CounterV2 and (await front.info())["impl"] == "CounterV2"
        assert inst.obj.counts["k"].value == 5
        assert sorted(host.instances) == ["Counter", "Front"]


async def test_swap_failure_leaves_the_old_one_serving() -> None:
    async with _host() as host:
        await host.start(Front)
        front = host.client(Front)
        await front.hit(Hit("k"))
        with pytest.raises(
            SwapError,
            match=r"swap of 'Counter' failed: Counter \(Broken\) "
            r"failed while starting: RuntimeError: no model "
            r"file; Counter keeps serving",
        ):
            await host.swap("Counter", Broken)
        assert host.instance("Counter").cls is Counter
        assert await front.hit(Hit("k")) == 2
        with pytest.raises(SwapError, match=r"implements no SID, not sid://reverie\.dev"):
            await host.swap("Counter", Front)


async def test_hold_is_bounded() -> None:
    async with _host() as host:
        await host.start(Counter)
        host.hold_timeout = 0.01
        inst = host.instance("Counter")
        from reverie._private.state.gate import quiesced

        async with quiesced(inst):
            with pytest.raises(UnavailableError, match=r"held new calls for 0\.01 s"):
                await host.client("Counter").get("a")
        assert await host.client("Counter").get("a") == 0
