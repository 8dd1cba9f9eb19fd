"""Per-edge call statistics: caller service -> callee service/endpoint over one transport.

A client's callers keep one ``EdgeStats`` each and bump plain integer slots, no lock, no
allocation. An in-process unary call, the hottest path there is, pays one increment and a bit
test (~4 % of the call, measured in bench/bench_observability.py): it is counted exactly, its
errors too, and one call in ``SAMPLE`` is timed; its in-flight gauge is the timed calls in flight
times ``SAMPLE``, an estimate. A call over a wire (HTTP, NATS) and every stream (once per stream,
never per item) are all timed and counted exactly, items included for wire streams.
``/metrics`` and the dashboard read the numbers at scrape time.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

__all__ = ["BOUNDS", "SAMPLE", "EdgeStats", "Edges", "transport_kind"]

#: Latency histogram bucket upper bounds, in seconds (Prometheus ``le``), then +Inf.
BOUNDS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: In-process edges time one call in this many (a power of two: the test is a bit mask).
SAMPLE = 64


class EdgeStats:
    """Counters of one edge and endpoint: ``calls`` started, ``errors`` by outcome code, the
    timed calls' latency histogram (``buckets``, ``total``, ``timed``) and those in flight."""

    __slots__ = (
        "buckets",
        "callee",
        "caller",
        "calls",
        "endpoint",
        "errors",
        "items",
        "mask",
        "outcomes",
        "streaming",
        "timed",
        "timed_in_flight",
        "total",
        "transport",
    )

    def __init__(
        self,
        caller: str,
        callee: str,
        endpoint: str,
        transport: str,
        streaming: bool = False,
        every_call: bool = False,
    ) -> None:
        self.caller = caller
        self.callee = callee
        self.endpoint = endpoint
        self.transport = transport
        self.streaming = streaming
        self.mask = 0 if every_call else SAMPLE - 1
        self.calls = 0
        self.timed_in_flight = 0
        self.errors = 0
        self.items = 0
        self.outcomes: dict[str, int] = {}
        self.buckets = [0] * (len(BOUNDS) + 1)
        self.timed = 0
        self.total = 0.0

    def failed(self, code: str) -> None:
        self.errors += 1
        self.outcomes[code] = self.outcomes.get(code, 0) + 1

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(BOUNDS, seconds)] += 1
        self.timed += 1
        self.total += seconds

    @property
    def exact(self) -> bool:
        """Whether every call is timed (so in-flight is exact, not estimated)."""
        return self.streaming or self.mask == 0

    @property
    def in_flight(self) -> int:
        return self.timed_in_flight * (1 if self.exact else SAMPLE)

    @property
    def ok(self) -> int:
        return max(self.calls - self.errors - self.in_flight, 0)

    def snapshot(self) -> dict[str, Any]:
        return {
            "caller": self.caller,
            "callee": self.callee,
            "endpoint": self.endpoint,
            "transport": self.transport,
            "streaming": self.streaming,
            "calls": self.calls,
            "ok": self.ok,
            "errors": self.errors,
            "in_flight": self.in_flight,
            "items": self.items,
            "outcomes": dict(self.outcomes),
            "buckets": list(self.buckets),
            "timed": self.timed,
            "latency_sum": self.total,
            "exact": self.exact,
        }


def transport_kind(transport: Any) -> str:
    """The ``transport`` label of an edge: in-process, http, nats (else the class name)."""
    name = type(transport).__name__.lower()
    for kind, marker in (("in-process", "inprocess"), ("http", "http"), ("nats", "nats")):
        if marker in name:
            return kind
    return name.removesuffix("transport") or name


class Edges:
    """Every ``EdgeStats`` of one host, created as clients are linked."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str, str, str], EdgeStats] = {}
        self.started = time.time()

    def get(
        self,
        caller: str,
        callee: str,
        endpoint: str,
        transport: str,
        streaming: bool = False,
        every_call: bool = False,
    ) -> EdgeStats:
        key = (caller, callee, endpoint, transport)
        st = self._stats.get(key)
        if st is None:
            st = self._stats[key] = EdgeStats(
                caller, callee, endpoint, transport, streaming, every_call
            )
        return st

    def __iter__(self) -> Iterator[EdgeStats]:
        return iter(list(self._stats.values()))

    def __len__(self) -> int:
        return len(self._stats)
