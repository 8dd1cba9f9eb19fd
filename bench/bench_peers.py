"""Optional: the same two-service graph on Reverie, BentoML and Ray Serve, side by side.

``POST .../generate {"text": "hello"}`` reaches a Frontend service, which calls a Backend
service's ``upper`` and answers ``{"text": "HELLO"}`` (bench/peers/ holds the three versions).
The same load for all, on 127.0.0.1: sequential latency p50/p99 from a Python client (httpx,
keep-alive, every answer checked), then throughput at 32 connections from wrk (bench/wrk.py), a
native load generator that is not the bottleneck, so the req/s ratios are real rather than lower
bounds. Servers run one at a time, each in its own session, and every process of it is killed
at the end, even on error. Every server runs with the loopback guard on PYTHONPATH
(``../shared/tools/netguard`` beside the repository, or ``$REVERIE_NETGUARD``): Ray probes cloud
metadata addresses at start-up. Without the guard the peers are skipped, with the reason.

Reverie runs from this venv, twice: ``reverie serve`` (one process) and ``--processes`` (each
service in its own process, over NATS: like BentoML and Ray, which always cross processes). The
peers run from a separate venv, ``.venv-peers`` (``--install`` creates it); a peer that is not
installed or fails to start gets rows that say why, and the script still exits 0. Per-request
access logs are off in all three. Never needed by the tests.

    .venv/bin/python bench/bench_peers.py [--install] [--quick] [--json PATH] [--peers bentoml,ray]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
VENV = ROOT / ".venv-peers"
DEFAULT_JSON = ROOT / "bench" / "results" / "peers.json"
PEER_PACKAGES = ["bentoml>=1.2", "ray[serve]>=2", "httpx"]
#: The loopback guard (a sitecustomize.py refusing non-loopback connects and name lookups).
NETGUARD = Path(os.environ.get("REVERIE_NETGUARD") or ROOT.parent / "shared" / "tools" / "netguard")

sys.path.insert(0, str(PEERS))
sys.path.insert(0, str(ROOT / "bench"))
from loadgen import (  # noqa: E402  (bench/peers/loadgen.py)
    BODY,
    CONCURRENCY,
    EXPECT,
    sequential,
    serve_bare,
)
from wrk import ensure_wrk, run_wrk  # noqa: E402  (bench/wrk.py)


@dataclass
class Settings:
    """How much load each phase gets: a count and a time bound, whichever comes first."""

    warm_seq: int
    warm_s: float
    seq_n: int
    seq_s: float
    thr_n: int
    thr_s: float
    rounds: int


FULL = Settings(warm_seq=200, warm_s=2.0, seq_n=1500, seq_s=8.0, thr_n=20000, thr_s=6.0, rounds=2)
QUICK = Settings(warm_seq=30, warm_s=0.5, seq_n=200, seq_s=3.0, thr_n=3000, thr_s=3.0, rounds=1)


@dataclass
class Server:
    """One framework's graph: how to start it and where its entry answers."""

    key: str
    label: str
    cmd: list[str]
    path: str
    start_timeout: float
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    """What one server measured, or why it was not."""

    label: str
    version: str = ""
    error: str = ""
    start_s: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)


# -- the peers' venv -----------------------------------------------------------------------------


def venv_python() -> Path:
    return VENV / "bin" / "python"


def install() -> str:
    """Create ``.venv-peers`` and pip-install the peers into it; '' on success, else the error."""
    try:
        if not venv_python().exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            )
        (VENV / ".gitignore").write_text("*\n")  # as newer venvs do: never committed
        print(f"installing {' '.join(PEER_PACKAGES)} into {VENV.name} (a few minutes)", flush=True)
        proc = subprocess.run(
            [str(venv_python()), "-m", "pip", "install", "-q", *PEER_PACKAGES],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if proc.returncode != 0:
            return f"pip install failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"creating {VENV.name} failed: {exc}"
    return ""


def peer_versions() -> dict[str, str]:
    """Installed versions in ``.venv-peers`` ({} when it is missing or broken)."""
    if not venv_python().exists():
        return {}
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for d in ('bentoml', 'ray', 'httpx'):\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    try:
        proc = subprocess.run(
            [str(venv_python()), "-c", code], capture_output=True, text=True, timeout=60
        )
        return dict(json.loads(proc.stdout)) if proc.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}


# -- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reverie_cmd(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("reverie")
    if script.exists():
        return [str(script), *args]
    return [
        sys.executable,
        "-c",
        "import sys; from reverie.cli import main; sys.argv[0] = 'reverie'; main()",
        *args,
    ]


def make_server(key: str, port: int, home: Path) -> Server:
    """The command line that serves ``key``'s graph on 127.0.0.1:``port``."""
    py = str(venv_python())
    if key == "reverie":
        return Server(
            key,
            "Reverie, one process",
            reverie_cmd("serve", "reverie_graph:Frontend", "--port", str(port)),
            "/Frontend/generate",
            30.0,
        )
    if key == "reverie-processes":
        return Server(
            key,
            "Reverie --processes",
            reverie_cmd("serve", "reverie_graph:Frontend", "--processes", "--port", str(port)),
            "/Frontend/generate",
            30.0,
        )
    if key == "ceiling":
        return Server(
            key,
            "bare ASGI (no second service)",
            [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)],
            "/generate",
            30.0,
        )
    if key == "bentoml":
        return Server(
            key,
            "BentoML",
            [
                py,
                "-m",
                "bentoml",
                "serve",
                "bento_service:Frontend",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            "/generate",
            90.0,
            {"BENTOML_DO_NOT_TRACK": "true", "BENTOML_HOME": str(home / "bentoml")},
        )
    if key == "ray":
        return Server(
            key,
            "Ray Serve",
            [py, "ray_app.py", str(port)],
            "/generate",
            120.0,
            {"RAY_USAGE_STATS_ENABLED": "0"},
        )
    raise ValueError(f"unknown server {key!r}: use reverie, reverie-processes, bentoml or ray")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the driver dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def session_pids(sid: int) -> list[int]:
    """Every live process in session ``sid`` (a server and all it spawned, whatever their
    process group: Ray gives each worker its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


_stop = {"in_progress": False, "exit": ""}


def _on_sigterm(signum: int, frame: Any) -> None:
    """Leave through the finally blocks (they stop every server), but never from the middle
    of a stop: that one finishes first."""
    reason = f"bench_peers: signal {signum}; stopping the servers"
    if _stop["in_progress"]:
        _stop["exit"] = reason
        return
    raise SystemExit(reason)


def stop_server(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the leader (a graceful stop), then SIGKILL whatever of its session is left."""
    _stop["in_progress"] = True
    try:
        _stop_session(proc, grace)
    finally:
        _stop["in_progress"] = False
    if _stop["exit"]:
        raise SystemExit(_stop["exit"])


def _stop_session(proc: subprocess.Popen[bytes], grace: float) -> None:
    sid = proc.pid
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        except OSError:
            pass
    for attempt in range(3):
        left = session_pids(sid)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2 * (attempt + 1))
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    """Until the graph answers the request correctly; raise with the log's tail otherwise."""
    import httpx

    end = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"exited with {proc.returncode} before it answered: {tail(log)}")
            try:
                resp = client.post(url, json=BODY)
                if resp.status_code == 200 and resp.json() == EXPECT:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
    raise RuntimeError(f"no correct answer from {url} within {timeout:g} s ({last}): {tail(log)}")


def tail(log: Path, chars: int = 400) -> str:
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " ".join(text[-chars:].split())


def netguard_missing() -> str:
    """Why the loopback guard cannot be used ('' when it can)."""
    if (NETGUARD / "sitecustomize.py").is_file():
        return ""
    return (
        f"the loopback guard is not at {NETGUARD} (its sitecustomize.py); set "
        f"REVERIE_NETGUARD to its folder"
    )


def throughput(url: str, seconds: float) -> dict[str, Any]:
    """wrk at CONCURRENCY connections, one thread, POSTing the request body."""
    got = run_wrk(url, seconds, CONCURRENCY, body=BODY)
    errors = got["non_2xx"] + got["socket_errors"]
    out: dict[str, Any] = {
        "rps": got["rps"],
        "thr_n": got["requests"],
        "thr_errors": errors,
        "thr_s": seconds,
        "wrk_p50_ms": got["p50_ms"],
        "wrk_p99_ms": got["p99_ms"],
    }
    if errors:
        out["thr_first_error"] = (
            f"wrk: {got['non_2xx']:.0f} non-2xx answers, {got['socket_errors']:.0f} socket errors"
        )
    return out


def measure(server: Server, cfg: Settings, port: int, logdir: Path) -> Result:
    res = Result(server.label)
    log = logdir / f"{server.key}.log"
    url = f"http://127.0.0.1:{port}{server.path}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **server.env}
    if not netguard_missing():
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = f"{NETGUARD}{os.pathsep}{path}" if path else str(NETGUARD)
        env["NETGUARD_LOG"] = str(logdir / "netguard.log")
    print(f"-- {server.label}: starting", flush=True)
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server.cmd,
            cwd=PEERS,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    try:
        wait_ready(proc, url, server.start_timeout, log)
        res.start_s = time.perf_counter() - t0
        sequential(url, cfg.warm_seq, cfg.warm_s * 2)
        throughput(url, cfg.warm_s)
        seqs: list[dict[str, Any]] = []
        thrs: list[dict[str, Any]] = []
        for _ in range(cfg.rounds):  # keep each server's best round: neighbours are noisy
            seqs.append(sequential(url, cfg.seq_n, cfg.seq_s))
            thrs.append(throughput(url, cfg.thr_s))
        best_seq: dict[str, Any] = min(seqs, key=lambda r: float(r.get("p50_ms", "inf")))
        best_thr: dict[str, Any] = max(thrs, key=lambda r: float(r["rps"]))
        res.figures.update(best_seq)
        res.figures.update(best_thr)
        res.figures["seq_errors"] = sum(r["seq_errors"] for r in seqs)
        res.figures["thr_errors"] = sum(r["thr_errors"] for r in thrs)
        res.figures["rounds_p50_ms"] = [r.get("p50_ms") for r in seqs]
        res.figures["rounds_rps"] = [r["rps"] for r in thrs]
        f = res.figures
        print(
            f"   up in {res.start_s:.1f} s; p50 {f.get('p50_ms', float('nan')):.2f} ms, "
            f"p99 {f.get('p99_ms', float('nan')):.2f} ms, {f.get('rps', 0):.0f} req/s at "
            f"{CONCURRENCY}",
            flush=True,
        )
        if f.get("seq_errors") or f.get("thr_errors") or "p50_ms" not in f:
            first = next(
                (
                    r[k]
                    for r in seqs + thrs
                    for k in ("seq_first_error", "thr_first_error")
                    if r.get(k)
                ),
                "",
            )
            res.error = (
                f"{f.get('seq_errors', 0):.0f} sequential and "
                f"{f.get('thr_errors', 0):.0f} concurrent requests failed; first: "
                f"{first}"
            )[:500]
    except Exception as exc:
        res.error = f"{type(exc).__name__}: {exc}"[:500]
        print(f"   failed: {res.error}", flush=True)
    finally:
        stop_server(proc)
    return res


# -- report --------------------------------------------------------------------------------------

METRICS = (
    ("seq p50", "p50_ms", "ms p50"),
    ("seq p99", "p99_ms", "ms p99"),
    (f"req/s at {CONCURRENCY}", "rps", "req/s"),
)


def rows(results: dict[str, Result]) -> list[dict[str, Any]]:
    """One row per (Reverie mode, peer, metric), each naming its peer; ratio = Reverie / peer,
    as in every bench. A peer that was not measured gets one row saying why."""
    out: list[dict[str, Any]] = []
    measured = []
    for peer in ("bentoml", "ray"):
        if peer not in results:
            continue
        pr = results[peer]
        if pr.error and not pr.figures:
            out.append(
                {
                    "name": f"two-service graph over HTTP, Reverie vs {pr.label}",
                    "reverie": None,
                    "note": "not measured",
                    "baseline": None,
                    "baseline_name": pr.label,
                    "unit": "",
                    "ratio": None,
                    "target": f"not measured: {pr.error}"[:160],
                    "ok": None,
                    "error": pr.error,
                }
            )
        else:
            measured.append(peer)
    for mode in ("reverie-processes", "reverie"):
        rv = results[mode]
        short = "processes" if mode == "reverie-processes" else "one process"
        for peer in measured:
            pr = results[peer]
            for title, key, unit in METRICS:
                mine = rv.figures.get(key)
                theirs = pr.figures.get(key)
                error = rv.error or pr.error
                row: dict[str, Any] = {
                    "name": f"two-service graph over HTTP, {title} (Reverie {short} vs {pr.label})",
                    "reverie": mine,
                    "baseline": theirs,
                    "baseline_name": f"{pr.label} {pr.version}".strip(),
                    "unit": unit,
                    "ratio": mine / theirs if mine and theirs else None,
                    "target": "",
                    "ok": None,
                }
                if error:
                    row["error"] = error
                    if theirs is None or mine is None:
                        row["target"] = f"not measured: {error}"[:160]
                out.append(row)
    return out


def print_table(results: dict[str, Result], cfg: Settings) -> None:
    base = results["reverie-processes"].figures
    print(
        f"\nPOST generate -> Backend.upper; sequential (httpx, keep-alive): {cfg.seq_n} "
        f"requests (<= {cfg.seq_s:g} s); throughput: wrk, {CONCURRENCY} connections, "
        f"{cfg.thr_s:g} s; best of {cfg.rounds} round(s) each; 127.0.0.1, "
        f"{os.cpu_count()} cores shared"
    )
    print(
        f"{'graph':<28}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'start s':>9}"
        f"{'p50 vs':>9}{'req/s vs':>10}"
    )
    for res in results.values():
        f = res.figures
        if res.error and not f.get("rps"):
            print(f"{res.label + ' ' + res.version:<28}  not measured: {res.error[:200]}")
            continue
        p50 = f.get("p50_ms", float("nan"))
        rps = f.get("rps", float("nan"))
        lat_x = p50 / base["p50_ms"] if base.get("p50_ms") else float("nan")
        thr_x = base["rps"] / rps if base.get("rps") and rps else float("nan")
        print(
            f"{res.label + ' ' + res.version:<28}{p50:>9.2f}{f.get('p99_ms', float('nan')):>9.2f}"
            f"{rps:>9.0f}{res.start_s:>9.1f}{lat_x:>8.2f}x{thr_x:>9.2f}x"
        )
    print(
        "(p50 vs: this / Reverie --processes, latency; req/s vs: Reverie --processes / this;\n"
        " bare ASGI: one uvicorn process giving the same answer with no second service)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument(
        "--install", action="store_true", help=f"create {VENV.name} and pip-install the peers first"
    )
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the rows")
    ap.add_argument("--peers", default="bentoml,ray", help="comma-separated: bentoml, ray")
    ap.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    cfg = QUICK if args.quick else FULL
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in ("bentoml", "ray"):
            ap.error(f"--peers: unknown peer {p!r}; choose from bentoml, ray")
    signal.signal(signal.SIGTERM, _on_sigterm)  # so the finally blocks stop every server
    install_error = install() if args.install else ""
    versions = peer_versions()
    guard_error = netguard_missing()
    if guard_error:
        print(f"-- peers skipped: {guard_error}", flush=True)
    ensure_wrk()
    from importlib.metadata import version

    results: dict[str, Result] = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reverie-peers-") as tmp:
        for key in ["ceiling", "reverie", "reverie-processes", *peers]:
            port = free_port()
            server = make_server(key, port, Path(tmp))
            pkg = key if key in ("bentoml", "ray") else None
            if pkg is None:
                res = measure(server, cfg, port, Path(tmp))
                res.version = "" if key == "ceiling" else version("reverie")
            elif guard_error:
                res = Result(server.label, error=f"skipped: {guard_error}")
            elif pkg not in versions:
                why = install_error or (
                    f"{pkg} is not installed in {VENV.name}; run bench/bench_peers.py --install"
                )
                res = Result(server.label, error=why)
                print(f"-- {server.label}: skipped: {why}", flush=True)
            else:
                res = measure(server, cfg, port, Path(tmp))
                res.version = versions[pkg]
            results[key] = res
        guard_log = Path(tmp) / "netguard.log"
        blocked = guard_log.read_text().splitlines() if guard_log.exists() else []
    print_table(results, cfg)
    if blocked:
        print(
            f"netguard refused {len(blocked)} non-loopback connection(s) or lookup(s); first: "
            f"{blocked[0]}"
        )
    data = {
        "rows": rows(results),
        "quick": args.quick,
        "settings": {
            "quick": args.quick,
            "concurrency": CONCURRENCY,
            **cfg.__dict__,
            "cpus": os.cpu_count(),
            "throughput": "wrk -t1",
            "latency": "httpx",
            "netguard": "" if guard_error else str(NETGUARD),
        },
        "netguard_blocked": blocked,
        "versions": {
            "reverie": version("reverie"),
            "httpx (latency)": version("httpx"),
            **{f"{k} (peers)": v for k, v in versions.items()},
        },
        "servers": {
            k: {
                "label": r.label,
                "version": r.version,
                "error": r.error,
                "start_s": r.start_s,
                **r.figures,
            }
            for k, r in results.items()
        },
        "elapsed_s": time.perf_counter() - t_all,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
