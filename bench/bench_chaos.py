"""Soak and chaos: minutes of mixed load on a served graph while workers, an entry worker and
the broker are killed on a schedule. Loopback only; bounded in time and request count.

    python bench/bench_chaos.py [--minutes 2] [--rate 80] [--json PATH] [--quick]

The graph is ``tests/serve/svc_graph.py`` (Api -> Logic -> Store) under ``reverie serve
--processes`` with two Api (entry) and two Store workers and the embedded nats-server. Load:
open-loop requests at ``--rate`` per second, 3 in 4 a unary ``GET /Api/pids`` (a call through
Logic to Store over NATS), 1 in 4 a 5-item stream ``POST /Api/count``. After a warm-up
(the steady baseline), one fault every ``interval`` seconds, in turn: kill -9 of a Store worker,
of an Api entry worker, of the nats-server (the supervisor restarts it: a broker restart), of
the Logic worker. Reported per fault: requests lost (failed or cut), p99 during the fault
(until the supervisor says the replacement is back) and after it (until the next fault), the
time to recover (fault to the last failed request, or to the replacement's ready line if
later); and RSS growth per long-lived process from the end of warm-up to the end. Ratios are
to the steady p99 of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = "Api:\n  ServiceArgs:\n    workers: 2\nStore:\n  ServiceArgs:\n    workers: 2\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Serve:
    """``reverie serve`` with JSON logs; every line kept with the time it arrived."""

    def __init__(self, deploy: str, port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reverie.cli",
                "serve",
                "tests.serve.svc_graph:Api",
                "-f",
                deploy,
                "--processes",
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
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.q: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"message": line.rstrip()}
            if not isinstance(ev, dict):
                ev = {"message": str(ev)}
            self.events.append((time.monotonic(), ev))
            self.q.put(ev)

    def wait_for(self, text: str, timeout: float = 60.0, since: float = 0.0) -> float:
        """The arrival time of the first line after ``since`` containing ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, ev in list(self.events):
                if t >= since and text in str(ev.get("message", "")) + str(ev.get("event", "")):
                    return t
            try:
                self.q.get(timeout=0.1)
            except queue.Empty:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "serve exited:\n"
                    + "\n".join(str(e.get("message")) for _, e in self.events[-30:])
                )
        raise TimeoutError(
            f"no line with {text!r} within {timeout} s; last lines:\n"
            + "\n".join(
                str(e.get("process", "")) + " | " + str(e.get("message"))[:300]
                for _, e in self.events[-40:]
            )
        )

    def table(self) -> dict[str, list[int]]:
        for _, ev in self.events:
            if ev.get("event") == "ready":
                out: dict[str, list[int]] = {}
                for row in ev["services"]:
                    for name, pid in zip(row["processes"], row["pids"], strict=False):
                        out[name] = [int(pid)]
                return out
        raise RuntimeError("no start-up table")

    def nats_pid(self) -> int:
        for _, ev in reversed(self.events):
            msg = str(ev.get("message", ""))
            if "embedded nats-server on" in msg or "embedded nats-server is back on" in msg:
                return int(msg.split("(pid ")[1].split(")")[0].split(",")[0])
        raise RuntimeError("no nats-server pid")

    def back_pid(self, name: str, since: float) -> int | None:
        for t, ev in self.events:
            msg = str(ev.get("message", ""))
            if t >= since and msg.startswith(f"{name} is back (pid "):
                return int(msg.split("(pid ")[1].split(",")[0])
        return None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                return self.proc.wait(10)
        return int(self.proc.returncode)


async def load(url: str, rate: float, until: float, log: list[tuple[float, float, bool]]) -> None:
    """Open-loop requests at ``rate``/s until ``until``: (start, latency, ok) each."""
    import httpx

    sem = asyncio.Semaphore(200)  # bounded in-flight: a fault never piles up unbounded work
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits) as client:

        async def one(i: int) -> None:
            async with sem:
                t0 = time.monotonic()
                ok = False
                try:
                    if i % 4 == 3:
                        items = []
                        async with client.stream(
                            "POST",
                            "/Api/count",
                            json={"n": 5},
                            headers={"accept": "application/x-ndjson"},
                        ) as r:
                            async for line in r.aiter_lines():
                                if line.strip():
                                    items.append(json.loads(line))
                        ok = r.status_code == 200 and items == [0, 1, 2, 3, 4]
                    else:
                        r = await client.get("/Api/pids")
                        ok = r.status_code == 200
                except Exception:
                    ok = False
                log.append((t0, time.monotonic() - t0, ok))

        tasks: set[asyncio.Task[None]] = set()
        i = 0
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= until:
                break
            nxt = start + i / rate
            if nxt > now:
                await asyncio.sleep(nxt - now)
            t = asyncio.ensure_future(one(i))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.wait(tasks, timeout=15)


def p99(lat: list[float]) -> float | None:
    if not lat:
        return None
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(0.99 * len(lat)))]


def _run(
    srv: Serve, port: int, args: Any, total: float, faults: list[str], interval: float
) -> tuple[
    dict[str, list[int]],
    float,
    list[tuple[float, float, bool]],
    list[dict[str, Any]],
    dict[str, int | None],
    dict[str, int | None],
]:
    """Start the load, inject the faults in turn, wait for the load to end."""
    srv.wait_for("ready", 120)
    pids = srv.table()
    t0 = time.monotonic()
    log: list[tuple[float, float, bool]] = []
    loop = asyncio.new_event_loop()
    loader = threading.Thread(
        target=loop.run_until_complete,
        args=(load(f"http://127.0.0.1:{port}", args.rate, t0 + total, log),),
        daemon=True,
    )
    loader.start()
    time.sleep(args.warmup)
    rss_start = {name: rss_kib(p[0]) for name, p in pids.items()}
    rss_start["supervisor"] = rss_kib(srv.proc.pid)
    marks: list[dict[str, Any]] = []
    for k, name in enumerate(faults):
        at = t0 + args.warmup + k * interval
        time.sleep(max(0.0, at - time.monotonic()))
        fault_t = time.monotonic()
        if name == "nats-server":
            os.kill(srv.nats_pid(), signal.SIGKILL)
            back = srv.wait_for("nats-server is back", 60, since=fault_t)
        else:
            os.kill(pids[name][-1], signal.SIGKILL)
            back = srv.wait_for(f"{name} is back", 60, since=fault_t)
            new = srv.back_pid(name, fault_t)
            if new:
                pids[name].append(new)
        marks.append({"fault": f"kill -9 {name}", "at": fault_t, "back": back})
    loader.join(total + 60)
    rss_end = {name: rss_kib(p[-1]) for name, p in pids.items()}
    rss_end["supervisor"] = rss_kib(srv.proc.pid)
    return pids, t0, log, marks, rss_start, rss_end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=40.0, help="requests per second")
    ap.add_argument("--warmup", type=float, default=12.0)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="one minute, lower rate")
    args = ap.parse_args()
    if args.quick:
        args.minutes, args.rate = 1.0, 30.0
    total = args.minutes * 60.0
    faults = ["Store-1", "Api-1", "nats-server", "Logic"]
    interval = (total - args.warmup) / (len(faults) + 0.5)

    work = tempfile.mkdtemp(prefix="reverie-chaos-")
    deploy = os.path.join(work, "deploy.yaml")
    Path(deploy).write_text(DEPLOY)
    port = free_port()
    srv = Serve(deploy, port)
    try:
        pids, t0, log, marks, rss_start, rss_end = _run(srv, port, args, total, faults, interval)
    finally:  # whatever happened, nothing is left behind
        code = srv.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)

    steady = [lat for t, lat, ok in log if t < t0 + args.warmup and t > t0 + 2 and ok]
    base_p99 = p99(steady)
    rows: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    for k, m in enumerate(marks):
        end = marks[k + 1]["at"] if k + 1 < len(marks) else t0 + total
        during = [(t, lat, ok) for t, lat, ok in log if m["at"] <= t < m["back"]]
        after = [(t, lat, ok) for t, lat, ok in log if m["back"] <= t < end]
        window = [(t, ok) for t, lat, ok in log if m["at"] - 1.0 <= t < end]
        failed = [t for t, ok in window if not ok]
        recover = max([m["back"]] + [t for t in failed]) - m["at"]
        entry = {
            "fault": m["fault"],
            "lost": len(failed),
            "requests": len(window),
            "p99_during_ms": round((p99([lat for _, lat, ok in during if ok]) or 0) * 1e3, 2),
            "p99_after_ms": round((p99([lat for _, lat, ok in after if ok]) or 0) * 1e3, 2),
            "replacement_ready_s": round(m["back"] - m["at"], 3),
            "recover_s": round(recover, 3),
        }
        report.append(entry)
        for key, unit in (("p99_during_ms", "ms"), ("p99_after_ms", "ms")):
            value = entry[key]
            rows.append(
                {
                    "name": f"chaos {m['fault']}: {key.replace('_ms', '')}",
                    "reverie": value,
                    "baseline": round((base_p99 or 0) * 1e3, 2),
                    "baseline_name": "steady p99",
                    "unit": unit,
                    "ratio": round(value / (base_p99 * 1e3), 2) if base_p99 else None,
                    "target": "",
                    "ok": None,
                }
            )
        rows.append(
            {
                "name": f"chaos {m['fault']}: requests lost",
                "reverie": entry["lost"],
                "baseline": entry["requests"],
                "baseline_name": "requests in window",
                "unit": "requests",
                "ratio": None,
                "target": "",
                "ok": None,
            }
        )
        rows.append(
            {
                "name": f"chaos {m['fault']}: time to recover",
                "reverie": entry["recover_s"],
                "baseline": None,
                "unit": "s",
                "ratio": None,
                "target": "",
                "ok": None,
            }
        )
    growth = {
        name: (rss_end.get(name) or 0) - (rss_start.get(name) or 0)
        for name in rss_start
        if rss_start.get(name)
        and rss_end.get(name)
        and (name == "supervisor" or len(pids.get(name, [])) == 1)
    }
    for name, kib in sorted(growth.items()):
        rows.append(
            {
                "name": f"chaos RSS growth {name}",
                "reverie": round(kib / 1024, 1),
                "baseline": round((rss_start[name] or 0) / 1024, 1),
                "baseline_name": "RSS after warm-up",
                "unit": "MiB",
                "ratio": round((rss_end[name] or 0) / (rss_start[name] or 1), 3)
                if rss_start[name]
                else None,
                "target": "",
                "ok": None,
            }
        )
    summary = {
        "minutes": args.minutes,
        "rate": args.rate,
        "requests": len(log),
        "failed": sum(1 for *_, ok in log if not ok),
        "steady_p99_ms": round((base_p99 or 0) * 1e3, 2),
        "faults": report,
        "rss_growth_kib": growth,
        "serve_exit": code,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
