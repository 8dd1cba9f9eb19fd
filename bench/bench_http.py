"""HTTP benchmark: a GET hello feature through the full Reverie stack vs the same handler on
Starlette and as a bare ASGI callable, all on uvicorn (uvloop + httptools), side by side.

Same load generator and settings for each (wrk, pinned to core 1; each server pinned to core 0
with taskset). Also times an in-process Plug call. Prints a table with ratios and writes
bench/results/http.json. A benchmark, not a test: run ``.venv/bin/python bench/bench_http.py``.

Targets (issue 3): full stack >= 1.2x Starlette and >= 0.8x bare ASGI req/s; Plug <= 10 us.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "http.json"
KINDS = ("reverie", "starlette", "bare")
PATHS = {"reverie": "/Hello/hello", "starlette": "/Hello/hello", "bare": "/Hello/hello"}


# -- the servers (run as subprocesses: python bench_http.py --serve KIND --port N) ---------------


def _hello_service() -> type:
    from reverie import feature, service

    @service()
    class Hello:
        @feature("GET:hello")
        async def hello(self) -> str:
            return "hello"

    return Hello


def serve(kind: str, port: int) -> None:
    import uvicorn

    if kind == "reverie":
        from reverie._private.host.host import Host
        from reverie._private.http.server import loop_factory, serve_http

        async def main() -> None:
            host = Host(env={}, name="bench")
            hello = _hello_service()
            host.register(hello)
            await host.start(hello)
            await serve_http(host, port=port, access_log=False, log_level="warning")

        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(main())
        return
    if kind == "starlette":
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def hello(request: Any) -> JSONResponse:
            return JSONResponse("hello")

        app: Any = Starlette(routes=[Route("/Hello/hello", hello)])
    else:
        body = b'"hello"'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"7")]

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning", lifespan="off",
                server_header=False, date_header=False)


# -- the driver --------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing it with apt-get", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required (apt-get install -y wrk)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, path: str, timeout: float = 15.0) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer {path} within {timeout} s")


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(wrk: str, url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["taskset", "-c", "1", wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True, capture_output=True, text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": _ms(lat.get("50", "")), "p99_ms": _ms(lat.get("99", "")),
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def bench_servers(wrk: str, seconds: int, connections: int, rounds: int
                  ) -> dict[str, dict[str, Any]]:
    """Start the three servers (each pinned to core 0; only the one under load is busy), then
    run wrk round-robin so a noisy neighbour hits every server alike; keep each one's best."""
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for kind in KINDS:
            port = free_port()
            proc = subprocess.Popen(
                ["taskset", "-c", "0", sys.executable, __file__, "--serve", kind,
                 "--port", str(port)],
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            procs[kind] = (proc, port)
        for kind, (_, port) in procs.items():
            wait_up(port, PATHS[kind])
            run_wrk(wrk, f"http://127.0.0.1:{port}{PATHS[kind]}", 1, connections)  # warm-up
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
        for _ in range(rounds):
            for kind, (_, port) in procs.items():
                url = f"http://127.0.0.1:{port}{PATHS[kind]}"
                runs[kind].append(run_wrk(wrk, url, seconds, connections))
        out: dict[str, dict[str, Any]] = {}
        for kind, results in runs.items():
            best = max(results, key=lambda r: r["rps"])
            rps = sorted(r["rps"] for r in results)
            out[kind] = {**best, "median_rps": rps[len(rps) // 2],
                         "rounds_rps": [r["rps"] for r in results]}
        return out
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def bench_plug(calls: int = 20000, rounds: int = 5) -> float:
    """Microseconds per in-process Plug GET of the hello feature (best of ``rounds``)."""
    from reverie._private.host.host import Host
    from reverie._private.http.app import app_for
    from reverie._private.http.server import loop_factory

    async def main() -> float:
        host = Host(env={}, name="plugbench")
        hello = _hello_service()
        host.register(hello)
        await host.start(hello)
        plug = app_for(host).plug("local://plugbench/Hello").at("hello")
        assert (await plug.get()).json() == "hello"
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(calls):
                await plug.get()
            best = min(best, (time.perf_counter() - t) / calls * 1e6)
        await host.stop()
        return best

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--serve", choices=KINDS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=9, help="wrk runs per server")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write results")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2 s (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 3, 2
    if args.serve:
        serve(args.serve, args.port)
        return
    wrk = ensure_wrk()
    results = bench_servers(wrk, args.seconds, args.connections, args.rounds)
    plug_us = bench_plug()
    full = results["reverie"]["rps"]

    def per_round(other: str) -> float:
        """Median over rounds of full/other, each from runs seconds apart: a neighbour's load
        that drifts over the run cancels out of the ratio."""
        pairs = zip(results["reverie"]["rounds_rps"], results[other]["rounds_rps"], strict=True)
        values = sorted(a / b for a, b in pairs)
        return values[len(values) // 2]

    ratios = {"vs_starlette": per_round("starlette"), "vs_bare_asgi": per_round("bare"),
              "best_vs_starlette": full / results["starlette"]["rps"],
              "best_vs_bare_asgi": full / results["bare"]["rps"]}
    print(f"\nGET hello, wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds "
          f"round-robin, servers on core 0, wrk on core 1")
    print(f"{'server':<14}{'best req/s':>11}{'median':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'full/this':>11}")
    for k in KINDS:
        r = results[k]
        print(f"{k:<14}{r['rps']:>11.0f}{r['median_rps']:>9.0f}{r['p50_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{full / r['rps']:>10.2f}x")
    print(f"\nper-round median ratio: full stack / Starlette = {ratios['vs_starlette']:.2f}x "
          f"(target >= 1.2x), full stack / bare ASGI = {ratios['vs_bare_asgi']:.2f}x "
          f"(target >= 0.8x)")
    print(f"ratio of bests: {ratios['best_vs_starlette']:.2f}x and "
          f"{ratios['best_vs_bare_asgi']:.2f}x")
    print(f"in-process Plug GET: {plug_us:.2f} us/call (target <= 10 us)")
    st, bare, rev = results["starlette"], results["bare"], results["reverie"]
    rows = [
        {"name": "HTTP GET hello, full stack vs Starlette (wrk, 1 core)", "reverie": rev["rps"],
         "baseline": st["rps"], "baseline_name": "Starlette on uvicorn", "unit": "req/s",
         "ratio": round(ratios["vs_starlette"], 2), "target": ">= 1.2x",
         "ok": ratios["vs_starlette"] >= 1.2},
        {"name": "HTTP GET hello, full stack vs bare ASGI (wrk, 1 core)", "reverie": rev["rps"],
         "baseline": bare["rps"], "baseline_name": "bare ASGI on uvicorn", "unit": "req/s",
         "ratio": round(ratios["vs_bare_asgi"], 2), "target": ">= 0.8x",
         "ok": ratios["vs_bare_asgi"] >= 0.8},
        {"name": "HTTP GET hello p50 / p99", "unit": "ms",
         "reverie": f"{rev['p50_ms']:.2f} / {rev['p99_ms']:.2f}",
         "baseline": f"{bare['p50_ms']:.2f} / {bare['p99_ms']:.2f}", "baseline_name": "bare ASGI",
         "ratio": round(rev["p50_ms"] / bare["p50_ms"], 2), "target": "", "ok": None},
        {"name": "Plug GET, in-process", "reverie": round(plug_us, 2), "baseline": None,
         "baseline_name": "-", "unit": "us/call", "ratio": None, "target": "<= 10 us",
         "ok": plug_us <= 10.0},
    ]
    out: Path = args.json
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "rows": rows,
        "settings": {"connections": args.connections, "seconds": args.seconds,
                     "rounds": args.rounds, "server_core": 0, "wrk_core": 1,
                     "cpus": os.cpu_count()},
        "servers": results, "ratios": ratios, "plug_inprocess_us": plug_us,
        "targets": {"vs_starlette": 1.2, "vs_bare_asgi": 0.8, "plug_inprocess_us": 10.0},
        "met": {"vs_starlette": ratios["vs_starlette"] >= 1.2,
                "vs_bare_asgi": ratios["vs_bare_asgi"] >= 0.8, "plug": plug_us <= 10.0},
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
