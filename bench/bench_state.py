"""The longest pause a caller sees while an instance is swapped live or migrated, under a
bounded load with zero failures allowed, beside the same load's longest call with nothing
happening (the raw baseline), in one run.

- swap: a host with Front -> Counter in-process; ``--callers`` tasks call ``Front.hit`` in a
  loop while the Counter implementation is swapped ``--swaps`` times (Counter -> CounterV2,
  then CounterV2 -> a fresh CounterV2).
- migrate: ``reverie serve`` of the counter example with Counter in its own process; callers
  post ``/Front/hit`` over HTTP while Counter is moved into the main process and back,
  ``--migrations`` times (the request ``reverie migrate`` sends, sent from here).

Every call must succeed and the final count must equal the calls made (no lost update).

    python bench/bench_state.py [--quick] [--json bench/results/state.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.counter.service import Counter, Front, Hit  # noqa: E402
from examples.counter.v2 import CounterV2  # noqa: E402
from reverie import Host  # noqa: E402


class Load:
    """``callers`` loops of calls; latency of each, and failures. Bounded by count and time."""

    def __init__(self) -> None:
        self.lat: list[tuple[float, float]] = []  # (start, seconds)
        self.failures: list[str] = []
        self.stop = False

    async def run(self, call: Any, callers: int, max_calls: int, max_seconds: float) -> None:
        deadline = time.monotonic() + max_seconds

        async def one() -> None:
            while not self.stop and len(self.lat) < max_calls and time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    await call()
                except Exception as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self.lat.append((t0, time.perf_counter() - t0))

        await asyncio.gather(*(one() for _ in range(callers)))

    def max_in(self, windows: list[tuple[float, float]]) -> float:
        """Longest call that overlapped one of the (start, end) windows."""
        out = 0.0
        for t0, dt in self.lat:
            if any(t0 <= end and t0 + dt >= start for start, end in windows):
                out = max(out, dt)
        return out


async def bench_swap(callers: int, swaps: int) -> dict[str, Any]:
    host = Host()
    host.register(Counter)
    await host.start(Front)
    front = host.client(Front)

    async def hit() -> None:
        await front.hit(Hit("k", delay=0.001))  # a call that takes 1 ms: calls are in flight

    # Baseline: the same load, nothing happening.
    base = Load()
    await base.run(hit, callers, 20_000, 2.0)
    load = Load()
    windows: list[tuple[float, float]] = []

    async def swapper() -> None:
        for _ in range(swaps):
            await asyncio.sleep(0.1)
            t0 = time.perf_counter()
            await host.swap("Counter", CounterV2)  # Counter -> V2, then V2 redeployed
            windows.append((t0, time.perf_counter()))
        load.stop = True

    await asyncio.gather(load.run(hit, callers, 200_000, 30.0), swapper())
    total = await front.get("k")
    await host.stop()
    made = len(base.lat) + len(load.lat) - len(load.failures) - len(base.failures)
    return {
        "pause_ms": load.max_in(windows) * 1000,
        "baseline_ms": max(dt for _, dt in base.lat) * 1000,
        "swap_ms": max(e - s for s, e in windows) * 1000,
        "calls": len(load.lat),
        "failures": len(load.failures) + len(base.failures),
        "lost": made - total,
        "swaps": len(windows),
        "errors": load.failures[:3],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(deploy: Path, port: int) -> tuple[subprocess.Popen[str], str, dict[str, int]]:
    """``reverie serve`` of the counter example; its NATS URL and the pid of each service."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reverie.cli",
            "serve",
            "examples.counter.service:Front",
            "-f",
            str(deploy),
            "--port",
            str(port),
            "--log-format",
            "json",
            "--no-access-log",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    nats = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        ev: dict[str, Any] = json.loads(line) if line.startswith("{") else {"message": line}
        msg = str(ev.get("message", ""))
        if "embedded nats-server on" in msg:
            nats = msg.split(" on ")[1].split(" ")[0]
        if ev.get("event") == "ready":
            # Keep reading its output: a full pipe would block the supervisor, then the workers'
            # logging, then their event loops.
            tail: list[str] = []
            threading.Thread(target=_drain, args=(proc.stdout, tail), daemon=True).start()
            return proc, nats, {str(r["service"]): int(r["pids"][0]) for r in ev["services"]}
    raise RuntimeError("reverie serve exited before it was ready")


def _drain(stream: Any, tail: list[str]) -> None:
    for line in stream:
        tail.append(line)
        del tail[:-50]


async def bench_migrate(callers: int, migrations: int) -> dict[str, Any]:
    import httpx

    tmp = tempfile.mkdtemp(prefix="reverie-bench-state-")
    deploy = Path(tmp) / "bench.yaml"
    deploy.write_text(
        f"state:\n  path: {tmp}/ckpt\n  interval: 0\n"
        "Counter:\n  ServiceArgs:\n    process: separate\n"
    )
    port = _free_port()
    proc, nats, pids = _launch(deploy, port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def hit() -> None:
                r = await client.post(f"{url}/Front/hit", json={"key": "k"})
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")

            base = Load()
            await base.run(hit, callers, 5_000, 2.0)
            load = Load()
            windows: list[tuple[float, float]] = []
            held: list[float] = []

            from reverie._private.runtime import DistributedRuntime
            from reverie._private.state.migrate import discover_hosts, request_migration

            rt = await DistributedRuntime.connect(nats)
            ids = {h["pid"]: h["worker"] for h in await discover_hosts(rt)}
            main_id, counter_id = ids[pids["Front"]], ids[pids["Counter"]]

            async def migrator() -> None:
                # The request goes from here (what `reverie migrate` sends), so the window is
                # the migration itself, not a CLI process starting on the same two cores.
                for i in range(migrations):
                    await asyncio.sleep(0.3)
                    src, dst = (counter_id, main_id) if i % 2 == 0 else (main_id, counter_id)
                    t0 = time.perf_counter()
                    answer = await request_migration(rt, "examples", "Counter", src, dst)
                    if "error" in answer:
                        raise RuntimeError(f"migrate failed: {answer['error']}")
                    windows.append((t0, time.perf_counter()))
                    held.append(float(answer["held_ms"]))
                await asyncio.sleep(0.3)
                load.stop = True

            try:
                await asyncio.gather(load.run(hit, callers, 100_000, 120.0), migrator())
            finally:
                await rt.close()
            total = (await client.post(f"{url}/Front/get", json="k")).json()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    made = len(base.lat) + len(load.lat) - len(load.failures) - len(base.failures)
    return {
        "pause_ms": load.max_in(windows) * 1000,
        "baseline_ms": max(dt for _, dt in base.lat) * 1000,
        "migrate_ms": max(e - s for s, e in windows) * 1000,
        "gate_held_ms": max(held),
        "calls": len(load.lat),
        "failures": len(load.failures) + len(base.failures),
        "lost": made - total,
        "migrations": len(windows),
        "errors": load.failures[:3],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--callers", type=int, default=8)
    ap.add_argument("--swaps", type=int, default=10)
    ap.add_argument("--migrations", type=int, default=4)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "state.json"))
    args = ap.parse_args()
    if args.quick:
        args.swaps, args.migrations = 4, 2
    swap = asyncio.run(bench_swap(args.callers, args.swaps))
    mig = asyncio.run(bench_migrate(args.callers, args.migrations))
    rows = []
    for name, res, what in (
        ("swap", swap, "in-process, Front -> Counter"),
        ("migrate", mig, "HTTP -> Front -> NATS -> Counter"),
    ):
        ok = res["failures"] == 0 and res["lost"] == 0
        rows.append(
            {
                "name": f"longest pause during a live {name} ({what}, {args.callers} callers)",
                "reverie": round(res["pause_ms"], 2),
                "baseline": round(res["baseline_ms"], 2),
                "baseline_name": "longest call, same load, no " + name,
                "unit": "ms",
                "ratio": round(res["pause_ms"] / res["baseline_ms"], 2)
                if res["baseline_ms"]
                else None,
                "target": "0 failed, 0 lost",
                "ok": ok,
            }
        )
        print(
            f"{name:8} longest pause {res['pause_ms']:8.2f} ms   baseline (no {name}) "
            f"{res['baseline_ms']:7.2f} ms   ratio {rows[-1]['ratio']}x   calls "
            f"{res['calls']}, failed {res['failures']}, lost {res['lost']}"
        )
        print(f"         {json.dumps({k: v for k, v in res.items() if k != 'errors'})}")
        if res["errors"]:
            print(f"         first errors: {res['errors']}")
    rows.append(
        {
            "name": "gate closed during a migration (drain, capture, remote start, switch)",
            "reverie": mig["gate_held_ms"],
            "baseline": None,
            "unit": "ms max",
            "ratio": None,
            "target": "",
            "ok": None,
        }
    )
    print(f"migrate  gate closed at most {mig['gate_held_ms']} ms (the source's own measure)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps({"rows": rows, "swap": swap, "migrate": mig}, indent=2) + "\n"
    )
    print(f"wrote {args.json}")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
