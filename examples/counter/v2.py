"""The second implementation of the counter SID, for live swaps.

Its state is version 2 (each count also remembers how many hits made it); its migrate hook
upgrades a version 1 capture of ``Counter``, so the swap keeps every count.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from reverie import config, endpoint, feature, service, state

from .service import SID, Hit


@dataclass
class Count:
    value: int = 0
    hits: int = 0


@dataclass
class CounterStateV2:
    """Version 2: a count and the number of hits per key."""

    counts: dict[str, Count] = field(default_factory=dict)


@service(sid=SID, namespace="examples", name="Counter")
class CounterV2:
    """Same contract; remembers hits per key too. Takes version 1 captures through migrate."""

    label: str = config("counter", "A name shown by @about-style answers")

    def __init__(self) -> None:
        self.counts: dict[str, Count] = {}

    @endpoint()
    async def hit(self, req: Hit) -> int:
        if req.delay:
            await asyncio.sleep(req.delay)
        c = self.counts.setdefault(req.key, Count())
        c.value += req.by
        c.hits += 1
        return c.value

    @endpoint()
    async def get(self, key: str) -> int:
        c = self.counts.get(key)
        return c.value if c is not None else 0

    @endpoint()
    async def info(self) -> dict[str, Any]:
        return {"impl": "CounterV2", "label": self.label, "pid": os.getpid()}

    @feature("GET:counts/{key}")
    async def count(self, key: str) -> int:
        c = self.counts.get(key)
        return c.value if c is not None else 0

    @state.snapshot(version=2, name="counter")
    def snapshot(self) -> CounterStateV2:
        return CounterStateV2(counts={k: Count(v.value, v.hits) for k, v in self.counts.items()})

    @state.restore
    def restore(self, s: CounterStateV2) -> None:
        self.counts = dict(s.counts)

    @state.migrate
    def upgrade(self, version: int, data: Any) -> CounterStateV2:
        # Version 1 knew counts only; each becomes a count whose hits are unknown (0).
        return CounterStateV2(counts={k: Count(value=v) for k, v in data["counts"].items()})
