"""A stateful example: a counter store whose counts survive restarts, swaps and migrations.

``Counter`` keeps its counts in memory and declares them as its state (``CounterState``,
version 1). ``examples.counter.v2:CounterV2`` implements the same SID with a richer state, so a
running ``Counter`` can be swapped for it without losing a count. ``Front`` is a dependent: its
client keeps working across restarts, swaps and migrations.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from reverie import config, depends, endpoint, feature, service, state

SID = "sid://reverie.dev/examples/counter"


@dataclass
class CounterState:
    """Version 1: a count per key."""

    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Hit:
    key: str
    by: int = 1
    delay: float = 0.0  # seconds the hit takes (to have calls in flight in tests and benchmarks)


@service(sid=SID, namespace="examples")
class Counter:
    """Counts hits per key, in memory; the counts are its declared state."""

    label: str = config("counter", "A name shown by @about-style answers")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @endpoint()
    async def hit(self, req: Hit) -> int:
        if req.delay:
            await asyncio.sleep(req.delay)
        self.counts[req.key] = self.counts.get(req.key, 0) + req.by
        return self.counts[req.key]

    @endpoint()
    async def get(self, key: str) -> int:
        return self.counts.get(key, 0)

    @endpoint()
    async def info(self) -> dict[str, Any]:
        return {"impl": "Counter", "label": self.label, "pid": os.getpid()}

    @feature("GET:counts/{key}")
    async def count(self, key: str) -> int:
        return self.counts.get(key, 0)

    @state.snapshot(version=1, name="counter")
    def snapshot(self) -> CounterState:
        return CounterState(counts=dict(self.counts))

    @state.restore
    def restore(self, s: CounterState) -> None:
        self.counts = dict(s.counts)


@service(namespace="examples")
class Front:
    """A dependent: reaches the counter through its client, wherever the counter runs."""

    counter = depends(SID)

    @endpoint()
    async def hit(self, req: Hit) -> int:
        result: int = await self.counter.hit(req)
        return result

    @endpoint()
    async def get(self, key: str) -> int:
        result: int = await self.counter.get(key)
        return result

    @endpoint()
    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.counter.info()
        return result


entry = Front
