"""In-process calls through a ``depends`` client, beside the raw Python baseline, in one run.

Figures: ns per unary call (argument already of the declared type) from inside a handler
(a request context current, as a dependency is called) and from outside any (a new context per
call), ns per streamed item, and ``import reverie`` time; each printed next to its raw baseline
as a ratio. Call and item times are this thread's CPU time (``time.thread_time_ns``), the
fastest of the rounds, on both sides alike: on a shared machine, time spent descheduled is not
the code's.

Per streamed item it also counts instructions with callgrind (bench/callgrind.py: a count, not
a time) for the bare generator, the depends client, one empty async-generator layer over the
bare generator (the least Python that can catch the producer's errors, which the client must
translate) and the producer's own ``__anext__`` passed through in C (catches nothing): the
floor a stream that keeps its error semantics can reach on this Python.

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
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from callgrind import instructions_by_kind
from pydantic import BaseModel

from reverie import Host, depends, endpoint, service
from reverie._private.call.context import CURRENT, RequestContext


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
        t0 = time.thread_time_ns()
        for _ in range(n):
            await fn()
        samples.append((time.thread_time_ns() - t0) / n)
        gc.enable()
    return min(samples)


async def _per_item_ns(make: Callable[[], AsyncIterator[int]], n: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        it = make()
        gc.disable()
        t0 = time.thread_time_ns()
        async for _ in it:
            pass
        samples.append((time.thread_time_ns() - t0) / n)
        gc.enable()
    return min(samples)


def _import_ms(module: str, rounds: int = 7) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    vals = [
        float(subprocess.check_output([sys.executable, "-X", "frozen_modules=on", "-c", code]))
        for _ in range(rounds)
    ]
    return statistics.median(vals) * 1e3


STREAM_KINDS = ("bare", "client", "layer", "passthrough")
_FEW, _MANY = 1_000, 21_000


async def _layer(inner: AsyncIterator[int]) -> AsyncIterator[int]:
    async for item in inner:
        yield item


def _passthrough(inner: AsyncIterator[int]) -> AsyncIterator[int]:
    """The producer's own ``__anext__`` as the step, called from C: no Python frame per item."""
    step = staticmethod(inner.__anext__)
    kind: Any = type("PassThrough", (), {"__aiter__": lambda self: self, "__anext__": step})
    return cast("AsyncIterator[int]", kind())


async def count_stream(kind: str, n: int) -> None:
    """``--count-stream``: stream ``n`` items one way (run under callgrind by ``stream_instr``)."""
    async with Host() as host:
        await host.start(Caller)
        client = host.instance(Caller).obj.target
        plain = Plain()
        make: Callable[[], AsyncIterator[Any]] = {
            "bare": lambda: plain.stream(n),
            "client": lambda: client.stream(n),
            "layer": lambda: _layer(plain.stream(n)),
            "passthrough": lambda: _passthrough(plain.stream(n)),
        }[kind]
        async for _ in make():
            pass


def stream_instr() -> dict[str, float] | None:
    """Instructions per streamed item for each of ``STREAM_KINDS``; None without valgrind."""
    return instructions_by_kind(__file__, "--count-stream", STREAM_KINDS, "--items", _FEW, _MANY)


async def run(quick: bool) -> dict[str, Any]:
    n, rounds, items = (20_000, 5, 20_000) if quick else (200_000, 9, 200_000)
    async with Host() as host:
        await host.start(Caller)
        client = host.instance(Caller).obj.target
        plain = Plain()
        req = Req(x=1)
        raw = await _per_call_ns(lambda: plain.unary(req), n, rounds)
        rev = await _per_call_ns(lambda: client.unary(req), n, rounds)
        # As a dependency is called: from a handler, whose request context is current.
        token = CURRENT.set(RequestContext())
        try:
            rev_in = await _per_call_ns(lambda: client.unary(req), n, rounds)
        finally:
            CURRENT.reset(token)
        raw_s = await _per_item_ns(lambda: plain.stream(items), items, rounds)
        rev_s = await _per_item_ns(lambda: client.stream(items), items, rounds)
    async with Host(serialize=True) as host:
        await host.start(Caller)
        sclient = host.instance(Caller).obj.target
        ser = await _per_call_ns(lambda: sclient.unary(req), n // 4, rounds)
    instr = stream_instr()
    imp_reverie = _import_ms("reverie")
    imp_asyncio = _import_ms("asyncio")
    rows = [
        _row(
            "unary call through a depends client, from a handler",
            rev_in,
            raw,
            "ns/call",
            "<= 1000 ns",
            rev_in <= 1000,
            "await obj.method(x)",
        ),
        _row(
            "unary call through a depends client, outside any handler (new context)",
            rev,
            raw,
            "ns/call",
            "<= 1000 ns",  # issue 14: a unary call through a client <= 1.0 us, wherever made
            rev <= 1000,
            "await obj.method(x)",
        ),
        _row(
            "unary call, serialize=True (test mode)",
            ser,
            raw,
            "ns/call",
            "",
            None,
            "await obj.method(x)",
        ),
        _row(
            "stream through a depends client",
            rev_s,
            raw_s,
            "ns/item",
            "<= 1.6x",
            rev_s / raw_s <= 1.6,
            "bare async generator",
        ),
        *(
            [
                _row(
                    "stream item, instructions (callgrind), through a depends client",
                    instr["client"],
                    instr["bare"],
                    "instr/item",
                    "",
                    None,
                    "bare async generator",
                ),
                _row(
                    "stream item, instructions (callgrind), through a depends client",
                    instr["client"],
                    instr["layer"],
                    "instr/item",
                    "",
                    None,
                    "one empty async-generator layer (the least that can catch an error)",
                ),
            ]
            if instr
            else []
        ),
        _row(
            "import reverie",
            imp_reverie,
            imp_asyncio,
            "ms",
            "<= 150 ms",
            imp_reverie <= 150,
            "import asyncio",
        ),
    ]
    return {"rows": rows, "quick": quick, "stream_instructions_per_item": instr}


def _row(
    name: str, mine: float, base: float, unit: str, target: str, ok: bool | None, base_name: str
) -> dict[str, Any]:
    return {
        "name": name,
        "reverie": round(mine, 1),
        "baseline": round(base, 1),
        "baseline_name": base_name,
        "unit": unit,
        "ratio": round(mine / base, 2),
        "target": target,
        "ok": ok,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default="bench/results/inprocess.json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--count-stream", choices=STREAM_KINDS, help="items to count under callgrind")
    ap.add_argument("--items", type=int, default=_MANY)
    args = ap.parse_args()
    if args.count_stream:
        asyncio.run(count_stream(args.count_stream, args.items))
        return
    res = asyncio.run(run(args.quick))
    print(f"{'in-process':42s} {'reverie':>10s} {'baseline':>10s} {'ratio':>7s}  target")
    for r in res["rows"]:
        print(
            f"{r['name']:42s} {r['reverie']:10.1f} {r['baseline']:10.1f} {r['ratio']:6.2f}x  "
            f"{r['target']} ({r['unit']}; baseline: {r['baseline_name']})"
        )
    instr = res["stream_instructions_per_item"]
    if instr:
        print(
            "instructions per streamed item (callgrind): "
            + ", ".join(f"{k} {v:.0f} ({v / instr['bare']:.2f}x bare)" for k, v in instr.items())
        )
    else:
        print("instructions per streamed item: unmeasured (no valgrind)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
