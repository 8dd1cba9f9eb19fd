"""Features over the runtime: a dependency's Plug ``GET`` over NATS beside raw nats-py.

    python bench/bench_features.py [--quick] [--json PATH]

One host serves a feature; a second host's dependency Plug calls it over the runtime
(``rv-http``: one streaming call, the app's answer as ``[status, headers]`` then the body). The
baseline, in the same run and on the same nats-server, is a raw nats-py request/reply carrying
the same bytes each way. Rounds alternate; each figure is the median of the rounds' medians.
Both runtimes call over NATS (``direct=False``): this row measures the broker path a Plug takes
when the direct plane is off or unreachable. Writes bench/results/features.json (its row, for
``bench/run.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from reverie import Host, attach_runtime, depends, feature, service  # noqa: E402
from reverie._private.runtime import DistributedRuntime  # noqa: E402
from reverie._private.runtime.natsserver import NatsServer  # noqa: E402


@service(namespace="benchfeat")
class Store:
    @feature("GET:hello")
    async def hello(self) -> dict[str, str]:
        return {"hello": "world"}


@service(namespace="benchfeat")
class Front:
    store = depends(Store)


async def _median_us(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument(
        "--json", type=Path, default=ROOT / "bench" / "results" / "features.json", help="output"
    )
    args = ap.parse_args()
    n, rounds = (300, 3) if args.quick else (2000, 7)
    server = NatsServer()
    await server.start()
    try:
        async with (
            await DistributedRuntime.connect(server.url, direct=False) as rt1,
            await DistributedRuntime.connect(server.url, direct=False) as rt2,
        ):
            store_host, front_host = Host(name="store", env={}), Host(name="front", env={})
            await attach_runtime(store_host, rt1)
            await attach_runtime(front_host, rt2)
            await store_host.start(Store)
            await front_host.start(Front, local={"Front"})
            plug = front_host.instance(Front).obj.store.plug.at("hello")
            first = await plug.get()
            assert first.status == 200, first.text
            answer = [[200, [list(h) for h in first.headers.raw]], first.content]
            sub = await nats.connect(server.url)
            pub = await nats.connect(server.url)
            request = json.dumps(["GET", "hello", "", [], "", True]).encode()
            reply = json.dumps(answer, default=lambda b: b.decode("latin-1")).encode()

            async def on(msg: Any) -> None:
                await sub.publish(msg.reply, reply)

            await sub.subscribe("bench.features.raw", cb=on)
            await sub.flush()

            async def raw() -> None:
                await pub.request("bench.features.raw", request, timeout=5)

            async def reverie() -> None:
                resp = await plug.get()
                assert resp.status == 200

            for fn in (raw, reverie):
                await _median_us(fn, 100)  # warm-up
            raws, revs = [], []
            for _ in range(rounds):
                raws.append(await _median_us(raw, n))
                revs.append(await _median_us(reverie, n))
            await sub.close()
            await pub.close()
            await front_host.stop()
            await store_host.stop()
    finally:
        await server.stop()
        server.cleanup()
    raw_us, rev_us = statistics.median(raws), statistics.median(revs)
    print(
        f"\nFeatures over the runtime vs raw nats-py request/reply "
        f"({platform.python_version()}, {'quick' if args.quick else 'full'})"
    )
    print(f"{'measure':40} {'raw nats-py':>12} {'reverie':>12} {'ratio':>7}")
    print(
        f"{'Plug GET over NATS, p50 (us)':40} {raw_us:12.1f} {rev_us:12.1f} {rev_us / raw_us:7.2f}"
    )
    row = {
        "name": "a dependency's Plug GET of a feature over the runtime (NATS path), p50",
        "reverie": rev_us,
        "baseline": raw_us,
        "baseline_name": "raw nats-py request/reply, same bytes",
        "unit": "us",
        "ratio": rev_us / raw_us,
        "target": "",
        "ok": None,
    }
    _write(
        args.json,
        {
            "rows": [row],
            "quick": args.quick,
            "rounds": rounds,
            "calls_per_round": n,
            "raw_us_rounds": raws,
            "reverie_us_rounds": revs,
        },
    )


def _write(out: Path, data: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
