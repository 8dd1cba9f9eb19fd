"""Timing loops shared by the benchmarks between processes (bench_nats.py, bench_direct.py):
sequential latencies, calls/s with a number in flight, stream items/s. Imported as ``measure``
(the scripts run with bench/ first on ``sys.path``, as ``wrk`` is)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["concurrent", "sequential", "stream_rate"]


async def sequential(fn: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    """Seconds each of ``n`` calls took, one after another (after up to 50 warm-up calls)."""
    for _ in range(min(50, n)):
        await fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


async def concurrent(fn: Callable[[], Awaitable[Any]], total: int, inflight: int = 32) -> float:
    """Calls per second with ``inflight`` callers in a loop (after one warm-up round)."""
    per = total // inflight

    async def worker() -> None:
        for _ in range(per):
            await fn()

    await asyncio.gather(*(worker() for _ in range(inflight)))  # warm-up round
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return per * inflight / (time.perf_counter() - t0)


async def stream_rate(fn: Callable[[], Awaitable[int]], rounds: int) -> float:
    """Items per second over ``rounds`` streams (``fn`` returns how many items it got), after
    one warm-up stream."""
    await fn()
    t0 = time.perf_counter()
    count = 0
    for _ in range(rounds):
        count += await fn()
    return count / (time.perf_counter() - t0)
