"""Implementations of the counter SID that fail during a swap, for the fault tests."""

from __future__ import annotations

import asyncio
import logging

from examples.counter.service import SID, CounterState, Hit
from reverie import endpoint, on_start, service, state

log = logging.getLogger("tests.state")


@service(sid=SID, namespace="examples", name="Counter")
class RestoreFails:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @endpoint()
    async def hit(self, req: Hit) -> int:
        return 0

    @state.snapshot(name="counter")
    def save(self) -> CounterState:
        return CounterState(self.counts)

    @state.restore
    def load(self, s: CounterState) -> None:
        raise RuntimeError("corrupt index")


@service(sid=SID, namespace="examples", name="Counter")
class Sessions:
    """Another state under the same SID: a swap to it is refused."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @state.snapshot(name="sessions")
    def save(self) -> CounterState:
        return CounterState(self.counts)

    @state.restore
    def load(self, s: CounterState) -> None: ...


@service(sid=SID, namespace="examples", name="Counter")
class StartsForever:
    """Its on_start never ends: the process can be killed in the middle of the swap."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @endpoint()
    async def hit(self, req: Hit) -> int:
        return 0

    @state.snapshot(name="counter")
    def save(self) -> CounterState:
        return CounterState(self.counts)

    @state.restore
    def load(self, s: CounterState) -> None:
        self.counts = dict(s.counts)

    @on_start
    async def hang(self) -> None:
        log.warning("StartsForever: on_start is running (the swap is in progress)")
        await asyncio.Event().wait()
