"""HTTP benchmark: a GET hello feature through the full Reverie stack vs the same handler on
Starlette and as a bare ASGI callable, all on uvicorn (uvloop + httptools), side by side.

Same load generator and settings for each (wrk, pinned to core 1; each server pinned to core 0
with taskset), rounds round-robin; each server's figure is the median of its rounds and every
ratio is computed from the figures printed beside it. Also: the server's CPU time per request
without a socket (uvicorn's httptools protocol fed the same request bytes in this process, the
same three applications: steadier than wrk on a shared machine, since it counts this thread's
CPU time only), the instructions per request of that same loop counted by callgrind (a count,
not a time: the one figure here a busy neighbour cannot move; valgrind is installed with apt
when missing, as wrk is), and an in-process Plug call. Writes bench/results/http.json. A
benchmark, not a test: run ``.venv/bin/python bench/bench_http.py``.

Targets (issue 14): full stack >= 1.3x Starlette and >= 0.92x bare ASGI req/s; Plug <= 10 us.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from callgrind import instructions_by_kind  # noqa: E402  (bench/callgrind.py)
from wrk import ensure_wrk  # noqa: E402  (bench/wrk.py)
from wrk import run_wrk as wrk_run  # noqa: E402

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

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
        server_header=False,
        date_header=False,
    )


# -- the driver --------------------------------------------------------------------------------


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


def run_wrk(wrk: str, url: str, seconds: int, connections: int) -> dict[str, float]:
    return wrk_run(url, seconds, connections, core=1)


def bench_servers(
    wrk: str, seconds: int, connections: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """Start the three servers (each pinned to core 0; only the one under load is busy), then
    run wrk round-robin so a noisy neighbour hits every server alike; keep each one's best."""
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for kind in KINDS:
            port = free_port()
            proc = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    "0",
                    sys.executable,
                    __file__,
                    "--serve",
                    kind,
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
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
            out[kind] = {
                **best,
                "median_rps": rps[len(rps) // 2],
                "rounds_rps": [r["rps"] for r in results],
            }
        return out
    finally:
        for proc, _ in procs.values():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def bench_plug(calls: int = 20000, rounds: int = 5) -> float:
    """CPU microseconds per in-process Plug GET of the hello feature (best of ``rounds``)."""
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
        for _ in range(rounds):  # this thread's CPU time, as the in-process rows count
            t = time.thread_time()
            for _ in range(calls):
                await plug.get()
            best = min(best, (time.thread_time() - t) / calls * 1e6)
        await host.stop()
        return best

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main())


# -- server CPU per request, no socket ----------------------------------------------------------

CPU_ROW = "HTTP GET hello, server CPU per request, no socket (lower is better)"
REQUEST = b"GET /Hello/hello HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n\r\n"


class _Wire(asyncio.Transport):
    """The socket's stand-in: counts writes, resolves ``done`` after each answer's second
    (head, then body)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.done: asyncio.Future[None] | None = None

    def write(self, data: Any) -> None:
        self.writes += 1
        if self.writes % 2 == 0 and self.done is not None:
            self.done.set_result(None)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )


async def _apps() -> tuple[Any, dict[str, tuple[Any, dict[str, Any]]]]:
    """A started host serving Hello, and the three applications with the uvicorn options each
    runs under (Reverie with those HttpServer gives uvicorn; the others uvicorn.run's)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from reverie._private.host.host import Host
    from reverie._private.http.app import app_for
    from reverie._private.http.limits import HttpLimits
    from reverie._private.http.server import uvicorn_options

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse("hello")

    body = b'"hello"'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"7")]

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    host = Host(env={}, name="cpubench")
    svc = _hello_service()
    host.register(svc)
    await host.start(svc)
    plain = {"http": "httptools"}  # uvicorn.run's defaults otherwise, as serve() runs them
    app = app_for(host)
    return host, {
        "reverie": (app, uvicorn_options(HttpLimits(), app.watch)),
        "starlette": (Starlette(routes=[Route("/Hello/hello", hello)]), plain),
        "bare": (bare, plain),
    }


async def _requests(app: Any, options: dict[str, Any], n: int) -> float:
    """``n`` requests through uvicorn's protocol for ``app``; this thread's CPU seconds."""
    import gc

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    config = Config(
        app,
        lifespan="off",
        access_log=False,
        server_header=False,
        date_header=False,
        log_config=None,
        **options,
    )
    config.load()
    loop = asyncio.get_running_loop()
    factory: Any = config.http_protocol_class
    proto = factory(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    wire = _Wire()
    proto.connection_made(wire)
    gc.disable()
    try:
        t0 = time.thread_time()
        for _ in range(n):
            wire.done = loop.create_future()
            proto.data_received(REQUEST)
            await wire.done
        took = time.thread_time() - t0
    finally:
        gc.enable()
        proto.connection_lost(None)
    assert wire.writes == 2 * n, f"{wire.writes} writes for {n} requests"
    return took


def bench_cpu(n: int, rounds: int) -> dict[str, float]:
    """Microseconds of this thread's CPU per request through uvicorn's httptools protocol, fed
    the request bytes directly (a stand-in transport takes the answer): the three applications
    as uvicorn runs them, no syscalls. Rounds alternate between servers; each keeps its
    fastest round."""
    import uvloop

    async def main() -> dict[str, float]:
        host, servers = await _apps()
        best = {k: float("inf") for k in servers}
        for _ in range(rounds):
            for kind, (app, options) in servers.items():
                best[kind] = min(best[kind], await _requests(app, options, n) / n * 1e6)
        await host.stop()
        return best

    return uvloop.run(main())


# -- instructions per request, counted by callgrind ---------------------------------------------

INSTR_ROW = "HTTP GET hello, server instructions per request, callgrind (lower is better)"
_FEW, _MANY = 500, 2500


def count_requests(kind: str, n: int) -> None:
    """``--count``: 300 warm-up requests, then ``n`` (run under callgrind by ``bench_instr``)."""
    import uvloop

    async def main() -> None:
        host, servers = await _apps()
        app, options = servers[kind]
        await _requests(app, options, 300)
        await _requests(app, options, n)
        await host.stop()

    uvloop.run(main())


def bench_instr(kinds: tuple[str, ...] = ("reverie", "bare")) -> dict[str, float] | None:
    """Instructions per request through the same protocol and applications as ``bench_cpu``,
    counted by callgrind (bench/callgrind.py); None (the row says why) without valgrind."""
    return instructions_by_kind(__file__, "--count", kinds, "--requests", _FEW, _MANY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--serve", choices=KINDS)
    parser.add_argument("--count", choices=KINDS, help="requests to count under callgrind")
    parser.add_argument("--requests", type=int, default=_MANY)
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
    if args.count:
        count_requests(args.count, args.requests)
        return
    wrk = ensure_wrk()
    results = bench_servers(wrk, args.seconds, args.connections, args.rounds)
    cpu = bench_cpu(2000 if args.quick else 5000, 6 if args.quick else 15)
    plug_us = bench_plug()
    instr = bench_instr()
    st, bare, rev = results["starlette"], results["bare"], results["reverie"]
    full = rev["median_rps"]
    vs_st, vs_bare = full / st["median_rps"], full / bare["median_rps"]
    print(
        f"\nGET hello, wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds "
        f"round-robin, servers on core 0, wrk on core 1; req/s = median of the rounds"
    )
    print(
        f"{'server':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'full/this':>11}{'CPU us/req':>12}"
    )
    for k in KINDS:
        r = results[k]
        print(
            f"{k:<14}{r['median_rps']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{full / r['median_rps']:>10.2f}x{cpu[k]:>12.2f}"
        )
    print(
        f"\nfull stack / Starlette = {vs_st:.2f}x (target >= 1.3x), full stack / bare ASGI = "
        f"{vs_bare:.2f}x (target >= 0.92x); in-process Plug GET: {plug_us:.2f} us/call "
        f"(target <= 10 us)"
    )
    mode = "quick" if args.quick else "full"

    def row(
        name: str,
        mine: Any,
        base: Any,
        base_name: str,
        unit: str,
        target: str,
        ok: bool | None,
        ratio: float | None = None,
    ) -> dict[str, Any]:
        if ratio is None and isinstance(mine, float) and isinstance(base, float):
            ratio = mine / base
        return {
            "name": name,
            "reverie": mine,
            "baseline": base,
            "baseline_name": base_name,
            "unit": unit,
            "ratio": ratio,
            "target": target,
            "ok": ok,
            "mode": mode,
        }

    rows = [
        row(
            "HTTP GET hello, full stack vs Starlette (wrk, 1 core)",
            full,
            st["median_rps"],
            "Starlette on uvicorn",
            "req/s",
            ">= 1.3x",
            vs_st >= 1.3,
        ),
        row(
            "HTTP GET hello, full stack vs bare ASGI (wrk, 1 core)",
            full,
            bare["median_rps"],
            "bare ASGI on uvicorn",
            "req/s",
            ">= 0.92x",
            vs_bare >= 0.92,
        ),
        row("HTTP GET hello p50 (wrk)", rev["p50_ms"], bare["p50_ms"], "bare ASGI", "ms", "", None),
        row(CPU_ROW, cpu["reverie"], cpu["starlette"], "Starlette", "us/req", "", None),
        row(CPU_ROW, cpu["reverie"], cpu["bare"], "bare ASGI", "us/req", "", None),
        row(
            INSTR_ROW,
            instr["reverie"] if instr else "unmeasured: no valgrind",
            instr["bare"] if instr else None,
            "bare ASGI",
            "instr/req",
            "",
            None,
        ),
        row("Plug GET, in-process", plug_us, None, "-", "us/call", "<= 10 us", plug_us <= 10.0),
    ]
    out: Path = args.json
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": rows,
                "quick": args.quick,
                "settings": {
                    "connections": args.connections,
                    "seconds": args.seconds,
                    "rounds": args.rounds,
                    "server_core": 0,
                    "wrk_core": 1,
                    "cpus": os.cpu_count(),
                },
                "servers": results,
                "cpu_us_per_request": cpu,
                "instructions_per_request": instr,
                "plug_inprocess_us": plug_us,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
