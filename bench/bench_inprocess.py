"""In-process calls through a ``depends`` client, beside the raw Python baseline, in one run.

Figures: median ns per unary call (argument already of the declared type), ns per streamed item,
and ``import reverie`` time; each printed next to its raw baseline as a ratio.

    python bench/bench_inprocess.py [--json bench/results/inprocess.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel

from reverie import Host, depends, endpoint, service


class Req(BaseModel):
    x: int


@service()
class Target:
    @endpoint()
    async def unary(self, r: Req) -> int:
        return r.x

    @endpoint()
    async def stream(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


@service()
class Caller:
    target = depends(Target)

    @endpoint()
    async def noop(self) -> None:
        return None


class Plain:
    async def unary(self, r: Req) -> int:
        return r.x

    async def stream(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


async def _per_call_ns(fn: Callable[[], Coroutine[Any, Any, Any]], n: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        gc.disable()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await fn()
        samples.append((time.perf_counter_ns() - t0) / n)
        gc.enable()
    return statistics.median(samples)


async def _per_item_ns(make: Callable[[], AsyncIterator[int]], n: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        it = make()
        gc.disable()
        t0 = time.perf_counter_ns()
        async for _ in it:
            pass
        samples.append((time.perf_counter_ns() - t0) / n)
        gc.enable()
    return statistics.median(samples)


def _import_ms(module: str, rounds: int = 7) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    vals = [
        float(subprocess.check_output([sys.executable, "-X", "frozen_modules=on", "-c", code]))
        for _ in range(rounds)
    ]
    return statistics.median(vals) * 1e3


async def run(quick: bool) -> dict[str, Any]:
    n, rounds, items = (20_000, 5, 20_000) if quick else (200_000, 9, 200_000)
    async with Host() as host:
        await host.start(Caller)
        client = host.instance(Caller).obj.target
        plain = Plain()
        req = Req(x=1)
        raw = await _per_call_ns(lambda: plain.unary(req), n, rounds)
        rev = await _per_call_ns(lambda: client.unary(req), n, rounds)
        raw_s = await _per_item_ns(lambda: plain.stream(items), items, rounds)
        rev_s = await _per_item_ns(lambda: client.stream(items), items, rounds)
    async with Host(serialize=True) as host:
        await host.start(Caller)
        sclient = host.instance(Caller).obj.target
        ser = await _per_call_ns(lambda: sclient.unary(req), n // 4, rounds)
    imp_reverie = _import_ms("reverie")
    imp_asyncio = _import_ms("asyncio")
    return {
        "unary_call_ns": {"reverie": rev, "raw": raw, "ratio": rev / raw, "target_ns": 2000},
        "unary_call_serialized_ns": {"reverie": ser, "raw": raw, "ratio": ser / raw},
        "stream_item_ns": {
            "reverie": rev_s,
            "raw": raw_s,
            "ratio": rev_s / raw_s,
            "target_ratio": 2.0,
        },
        "import_ms": {
            "reverie": imp_reverie,
            "raw (import asyncio)": imp_asyncio,
            "ratio": imp_reverie / imp_asyncio,
            "target_ms": 150,
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default="bench/results/inprocess.json")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    res = asyncio.run(run(args.quick))
    print(f"{'in-process':32s} {'reverie':>12s} {'raw':>12s} {'ratio':>8s}  target")
    u, s, i, z = (
        res["unary_call_ns"],
        res["stream_item_ns"],
        res["import_ms"],
        res["unary_call_serialized_ns"],
    )
    print(
        f"{'unary call via depends (ns)':32s} {u['reverie']:12.0f} {u['raw']:12.0f} "
        f"{u['ratio']:7.1f}x  <= 2000 ns"
    )
    print(
        f"{'  same, serialize=True (ns)':32s} {z['reverie']:12.0f} {z['raw']:12.0f} "
        f"{z['ratio']:7.1f}x  (test mode)"
    )
    print(
        f"{'stream, per item (ns)':32s} {s['reverie']:12.0f} {s['raw']:12.0f} "
        f"{s['ratio']:7.2f}x  <= 2.0x"
    )
    print(
        f"{'import reverie (ms)':32s} {i['reverie']:12.1f} {i['raw (import asyncio)']:12.1f} "
        f"{i['ratio']:7.2f}x  <= 150 ms"
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
