"""Start-up time of ``reverie serve``: from launching the command to the first HTTP answer.

Runs the hello graph (examples/hello/graph.py:Frontend with examples/hello/deploy.yaml) in
embedded mode (target <= 1.0 s), then with Backend at 2 workers, Middle in its own process and
the embedded nats-server (target <= 3 s). Also times the graceful stop (SIGTERM to exit).

    python bench/bench_startup.py [--runs 5] [--json bench/results/startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = "examples.hello.graph:Frontend"
DEPLOY = ROOT / "examples" / "hello" / "deploy.yaml"
WORKERS_EXTRA = """
Middle:
  ServiceArgs:
    process: separate
"""
LIMITS = {"embedded": 1.0, "workers + nats": 3.0}
BARE_UVICORN = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'["hello"]'})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers_deploy() -> str:
    text = DEPLOY.read_text().replace("workers: 1", "workers: 2") + WORKERS_EXTRA
    fd, path = tempfile.mkstemp(suffix=".yaml", prefix="hello-workers-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def one_run(deploy: str | None, timeout: float = 30.0) -> dict[str, float]:
    """Seconds from launch to the first good answer, and from SIGTERM to exit.
    ``deploy=None`` runs the baseline: a bare ASGI app on uvicorn."""
    port = _free_port()
    if deploy is None:
        url = f"http://127.0.0.1:{port}/"
        cmd = [sys.executable, "-c", BARE_UVICORN, str(port)]
    else:
        url = f"http://127.0.0.1:{port}/Frontend/hello/world"
        cmd = [
            sys.executable,
            "-m",
            "reverie.cli",
            "serve",
            TARGET,
            "-f",
            deploy,
            "--port",
            str(port),
        ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = t0 + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    body = json.loads(resp.read())
                if body and resp.status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(
                    f"serve exited {proc.returncode}: "
                    f"{proc.stderr.read().decode() if proc.stderr else ''}"
                )
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no answer from {url} within {timeout} s")
            time.sleep(0.005)
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stopped = time.perf_counter() - t1
        if code != 0 and not (deploy is None and code == -signal.SIGTERM):
            raise RuntimeError(f"serve exited {code} after SIGTERM")
        return {"start_s": started, "stop_s": stopped}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "startup.json"))
    ap.add_argument("--quick", action="store_true", help="2 runs per case")
    args = ap.parse_args()
    if args.quick:
        args.runs = 2
    workers = _workers_deploy()
    cases = {"embedded": str(DEPLOY), "workers + nats": workers}
    results: dict[str, Any] = {}
    try:
        one_run(str(DEPLOY))  # warm the file cache and .pyc files
        bare = statistics.median(one_run(None)["start_s"] for _ in range(args.runs))
        for name, deploy in cases.items():
            runs = [one_run(deploy) for _ in range(args.runs)]
            starts = [r["start_s"] for r in runs]
            stops = [r["stop_s"] for r in runs]
            results[name] = {
                "start_median_s": round(statistics.median(starts), 3),
                "start_min_s": round(min(starts), 3),
                "start_max_s": round(max(starts), 3),
                "stop_median_s": round(statistics.median(stops), 3),
                "limit_s": LIMITS[name],
                "ok": max(starts) <= LIMITS[name],
                "runs": args.runs,
            }
    finally:
        os.unlink(workers)
    print(f"baseline: a bare ASGI app on uvicorn answers {bare:.3f} s after launch")
    print(
        f"{'case':<16} {'start median':>12} {'min':>7} {'max':>7} {'limit':>6} "
        f"{'stop median':>12}  ok"
    )
    for name, r in results.items():
        print(
            f"{name:<16} {r['start_median_s']:>11.3f}s {r['start_min_s']:>6.3f}s "
            f"{r['start_max_s']:>6.3f}s {r['limit_s']:>5.1f}s {r['stop_median_s']:>11.3f}s  "
            f"{'yes' if r['ok'] else 'NO'}"
        )
    out = {
        "bench": "startup",
        "target": TARGET,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "baseline_bare_uvicorn_s": round(bare, 3),
        "results": results,
        "rows": [
            {
                "name": f"serve start-up, {name}",
                "reverie": r["start_median_s"],
                "baseline": round(bare, 3),
                "baseline_name": "bare uvicorn",
                "unit": "s",
                "ratio": round(r["start_median_s"] / bare, 2),
                "target": f"<= {r['limit_s']} s",
                "ok": r["ok"],
            }
            for name, r in results.items()
        ],
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
