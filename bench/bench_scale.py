"""Scale with real served endpoints, through the public ``reverie serve`` path.

    python bench/bench_scale.py [--workers 100] [--endpoints 100] [--json PATH] [--quick]

Two runs of ``reverie serve bench/scale_graph.py:Shard --nats URL`` against one nats-server
(loopback) that this script starts:

- **small** (the baseline): 1 worker process x 10 endpoints = 10 endpoint instances;
- **large**: ``--workers`` processes x ``--endpoints`` endpoints (default 100 x 100 = 10,000).

For each: the time from launching ``reverie serve`` until a client watching every endpoint sees
every instance; the p50/p99 of sequential unary calls to one endpoint from that client (routing
among 1 vs ``--workers`` instances, with 10 vs 10,000 leases in the bucket); RSS per worker
process; the nats-server's CPU over a steady window (lease refreshes only). The ratios large /
small are the figures; the target for the call is flat (<= 1.1x).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from reverie._private.call.context import new_context  # noqa: E402
from reverie._private.runtime import DistributedRuntime, direct  # noqa: E402
from reverie._private.runtime.natsserver import NatsServer  # noqa: E402

DEFAULT_JSON = HERE / "results" / "scale.json"
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return out


async def run_case(
    url: str, nats_pid: int, workers: int, endpoints: int, calls: int, window: float
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="reverie-scale-"))
    deploy = tmp / "deploy.yaml"
    deploy.write_text(f"Shard:\n  ServiceArgs:\n    workers: {workers}\n    process: separate\n")
    env = {
        **os.environ,
        "REVERIE_BENCH_ENDPOINTS": str(endpoints),
        "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    rt = await DistributedRuntime.connect(url)
    comp = rt.namespace("scale").component("Shard")
    clients = [comp.endpoint(f"ep{i:03d}").client() for i in range(endpoints)]
    log = open(tmp / "serve.log", "w")  # noqa: SIM115, ASYNC230 - closed below
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: ASYNC220 - one launch, timed from here
        [
            sys.executable,
            "-m",
            "reverie.cli",
            "serve",
            "scale_graph:Shard",
            "-f",
            str(deploy),
            "--nats",
            url,
            "--port",
            "0",
            "--log-format",
            "json",
            "--start-timeout",
            "600",
            "--no-access-log",
        ],
        cwd=HERE,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # a client watching every endpoint: when does it see every instance?
        await asyncio.gather(*(c.wait_for_workers(workers, timeout=900) for c in clients))
        visible_s = time.perf_counter() - t0
        seen = sum(len(c.workers()) for c in clients)
        # sequential calls to one endpoint: round robin among its `workers` instances (each
        # call lands in another process), and direct to one instance (the same process each
        # time: what changes with scale is only the registry the routing works on)
        client = clients[0]
        lat = await _latencies(client, calls)
        one = comp.endpoint("ep000").client(router=direct(client.workers()[0]))
        lat_direct = await _latencies(one, calls)
        # the routing decision alone: this thread's CPU time (time descheduled while 100
        # processes share two cores is not the code's), the best of 20 batches
        batches = []
        for _ in range(20):
            s = time.thread_time()
            for _ in range(10_000):
                client.pick()
            batches.append((time.thread_time() - s) / 10_000 * 1e9)
        pick_ns = min(batches)
        pids = _children(proc.pid)
        rss = [_rss(p) for p in pids if _rss(p)]
        # nats-server CPU while nothing happens but lease refreshes (every third of the TTL)
        c0, w0 = _cpu_seconds(nats_pid), time.perf_counter()
        await asyncio.sleep(window)
        nats_cpu = (_cpu_seconds(nats_pid) - c0) / (time.perf_counter() - w0) * 100
        return {
            "workers": workers,
            "endpoints": endpoints,
            "instances": seen,
            "visible_s": visible_s,
            "call_p50_us": statistics.median(lat),
            "call_p99_us": lat[int(len(lat) * 0.99) - 1],
            "direct_p50_us": statistics.median(lat_direct),
            "direct_p99_us": lat_direct[int(len(lat_direct) * 0.99) - 1],
            "pick_ns": pick_ns,
            "processes": len(rss),
            "rss_mean_mib": statistics.mean(rss) / 2**20 if rss else 0,
            "rss_total_mib": sum(rss) / 2**20,
            "nats_cpu_pct": nats_cpu,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        await rt.close()


async def _latencies(client: Any, calls: int) -> list[float]:
    for _ in range(200):
        await client.call(None, new_context(10))
    lat = []
    for _ in range(calls):
        s = time.perf_counter()
        await client.call(None, new_context(10))
        lat.append((time.perf_counter() - s) * 1e6)
    lat.sort()
    return lat


def _write(results: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    return path


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=100)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--window", type=float, default=10.0, help="seconds of nats-server CPU")
    ap.add_argument("--quick", action="store_true", help="10 x 10 (smoke run)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = ap.parse_args()
    if args.quick:
        args.workers, args.endpoints, args.calls, args.window = 10, 10, 500, 3.0
    started = time.perf_counter()
    async with NatsServer() as server:
        assert server.pid is not None
        small = await run_case(server.url, server.pid, 1, 10, args.calls, args.window)
        large = await run_case(
            server.url, server.pid, args.workers, args.endpoints, args.calls, args.window
        )
    p50 = large["call_p50_us"] / small["call_p50_us"]
    d50 = large["direct_p50_us"] / small["direct_p50_us"]
    pick = large["pick_ns"] / small["pick_ns"]
    p99 = large["call_p99_us"] / small["call_p99_us"]
    rss = large["rss_mean_mib"] / small["rss_mean_mib"]
    print(
        f"\nscale: {large['workers']} worker processes x {large['endpoints']} endpoints = "
        f"{large['instances']:,} endpoint instances (baseline: 1 x 10 = {small['instances']})"
    )
    print(
        f"  visible to a client (launch -> all seen): {large['visible_s']:.1f} s "
        f"(baseline {small['visible_s']:.2f} s)"
    )
    print(
        f"  routing decision (client.pick) {large['pick_ns']:.0f} ns vs "
        f"{small['pick_ns']:.0f} ns = {pick:.2f}x"
    )
    print(
        f"  call to one instance (direct) p50 {large['direct_p50_us']:.0f} us vs "
        f"{small['direct_p50_us']:.0f} us = {d50:.2f}x (target <= 1.1x "
        f"{'ok' if d50 <= 1.1 else 'MISSED'})"
    )
    print(
        f"  call round robin p50 {large['call_p50_us']:.0f} us vs {small['call_p50_us']:.0f} us"
        f" = {p50:.2f}x (each call in another of {large['workers']} idle processes); p99 "
        f"{large['call_p99_us']:.0f} vs {small['call_p99_us']:.0f} us"
    )
    print(
        f"  RSS per worker process {large['rss_mean_mib']:.1f} MiB (baseline "
        f"{small['rss_mean_mib']:.1f} MiB), {large['rss_total_mib']:.0f} MiB in all"
    )
    print(
        f"  nats-server CPU, leases only: {large['nats_cpu_pct']:.1f}% of a core "
        f"(baseline {small['nats_cpu_pct']:.1f}%)"
    )
    n = f"{large['instances']:,}"
    rows = [
        {
            "name": f"scale: {n} served endpoint instances ({large['workers']} processes x "
            f"{large['endpoints']}) visible to a client",
            "reverie": round(large["visible_s"], 1),
            "baseline": round(small["visible_s"], 2),
            "baseline_name": "10 instances (1 process)",
            "unit": "s from launch",
            "ratio": round(large["visible_s"] / small["visible_s"], 1),
            "target": "",
            "ok": None,
        },
        {
            "name": f"scale: routing decision per call with {n} instances",
            "reverie": round(large["pick_ns"]),
            "baseline": round(small["pick_ns"]),
            "baseline_name": "10 instances",
            "unit": "ns",
            "ratio": round(pick, 2),
            "target": "<= 1.1x",
            "ok": pick <= 1.1,
        },
        {
            "name": f"scale: unary call p50 to one instance with {n} registered",
            "reverie": round(large["direct_p50_us"]),
            "baseline": round(small["direct_p50_us"]),
            "baseline_name": "10 registered",
            "unit": "us",
            "ratio": round(d50, 2),
            "target": "<= 1.1x",
            "ok": d50 <= 1.1,
        },
        {
            "name": f"scale: unary call p50, round robin over {large['workers']} processes",
            "reverie": round(large["call_p50_us"]),
            "baseline": round(small["call_p50_us"]),
            "baseline_name": "1 process",
            "unit": "us",
            "ratio": round(p50, 2),
            "target": "",
            "ok": None,
        },
        {
            "name": f"scale: unary call p99, round robin over {large['workers']} processes",
            "reverie": round(large["call_p99_us"]),
            "baseline": round(small["call_p99_us"]),
            "baseline_name": "1 process",
            "unit": "us",
            "ratio": round(p99, 2),
            "target": "",
            "ok": None,
        },
        {
            "name": f"scale: RSS per worker process ({large['endpoints']} endpoints)",
            "reverie": round(large["rss_mean_mib"], 1),
            "baseline": round(small["rss_mean_mib"], 1),
            "baseline_name": "1 process, 10 endpoints",
            "unit": "MiB",
            "ratio": round(rss, 2),
            "target": "",
            "ok": None,
        },
        {
            "name": f"scale: nats-server CPU refreshing {n} leases",
            "reverie": round(large["nats_cpu_pct"], 1),
            "baseline": round(small["nats_cpu_pct"], 1),
            "baseline_name": "10 leases",
            "unit": "% of a core",
            "ratio": None,
            "target": "",
            "ok": None,
        },
    ]
    results = {
        "small": small,
        "large": large,
        "rows": rows,
        "elapsed_s": time.perf_counter() - started,
    }
    out = _write(results, args.json)
    print(f"\nwrote {out} ({results['elapsed_s']:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
