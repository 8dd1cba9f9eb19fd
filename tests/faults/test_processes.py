"""Process faults with real `reverie serve` processes and a real nats-server: who holds the
port (2), SIGTERM refusing new connections at once while in-flight streams finish, a restarted
entry worker getting its share of keep-alive clients (6), a supervisor killed with -9 leaving
nothing behind and cutting nothing first (7), a crash-looping replica (10). Every load is
bounded in count; every wait is for an event."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.faults.procs import event_with, holders, listening_inode, nats_info, refused
from tests.serve.conftest import GRAPH, alive, wait_gone


def _stream(
    url: str, n: int, delay: float, first: threading.Event, out: list[tuple[list[int], str | None]]
) -> None:
    items: list[int] = []
    err: str | None = None
    try:
        with (
            httpx.Client(timeout=30.0) as client,
            client.stream(
                "POST",
                f"{url}/Api/count",
                json={"n": n, "delay": delay},
                headers={"accept": "application/x-ndjson"},
            ) as resp,
        ):
            for line in resp.iter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if isinstance(item, dict):
                    err = str(item.get("@error"))
                    break
                items.append(item)
                first.set()
    except httpx.HTTPError as exc:
        err = f"{type(exc).__name__}: {exc}"
    first.set()
    out.append((items, err))


def test_only_entry_workers_hold_the_port_and_sigterm_refuses_at_once(
    serve: Any, tmp_path: Path
) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("Api:\n  ServiceArgs:\n    workers: 2\nStore:\n  ServiceArgs:\n    workers: 2\n")
    run = serve(GRAPH, "-f", str(f), "--processes", "--drain-timeout", "20")
    rows = run.rows()
    api = set(rows["Api"]["pids"])
    others = set(rows["Store"]["pids"]) | set(rows["Logic"]["pids"])
    nats_pid, workdir = nats_info(run)
    inode = listening_inode(run.port)
    held = holders(inode)
    # The supervisor (its own copy, closed first on shutdown) and the entry workers only.
    assert held == api | {run.proc.pid}, (held, api, others, nats_pid)
    assert not held & (others | {nats_pid})

    out: list[tuple[list[int], str | None]] = []
    first = threading.Event()
    t = threading.Thread(target=_stream, args=(run.url, 60, 0.1, first, out))
    t.start()
    assert first.wait(30)
    run.signal(signal.SIGTERM)
    event_with(run, "shutting down")
    # New connections are refused (not parked in a backlog nobody reads) while the in-flight
    # stream is still running: before the fix, the Store and Logic workers held the port
    # until the very end, so connects succeeded and hung. Polled (state, not time), bounded.
    stop = threading.Event()
    for _ in range(600):
        if refused(run.port):
            break
        stop.wait(0.02)
    else:
        raise AssertionError("new connections were still accepted after SIGTERM")
    assert t.is_alive(), "the stream ended before the port was closed"
    t.join(30)
    assert out and out[0] == (list(range(60)), None), out  # zero in-flight requests cut
    assert run.wait(30) == 0
    # Nothing left behind: processes, the socket, the nats-server's temp dir.
    assert wait_gone(sorted(run.pids | {nats_pid})) == []
    assert holders(inode) == set()
    assert not os.path.exists(workdir)


def test_restarted_entry_worker_gets_keep_alive_traffic(serve: Any, tmp_path: Path) -> None:
    """Four keep-alive clients (one connection each) over two entry workers; after a kill -9
    and the restart, the survivor sheds its excess and a reconnect lands on the new worker.
    Requests go one at a time, so at each reconnect both workers wait in accept: with requests
    in flight the busy survivor, already on a CPU, wins the kernel's choice nearly every time
    on a loaded machine (one listening socket shared by both)."""
    f = tmp_path / "d.yaml"
    f.write_text("Api:\n  ServiceArgs:\n    workers: 2\n")
    run = serve(GRAPH, "-f", str(f))
    api = sorted(run.rows()["Api"]["pids"])
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.Client(base_url=run.url, timeout=10, limits=one) for _ in range(4)]
    try:

        def rounds(n: int) -> set[int]:
            seen: set[int] = set()
            for _ in range(n):
                for client in clients:
                    r = client.get("/Api/pids")
                    assert r.status_code == 200, r.text
                    seen.add(r.json()["api"])
            return seen

        rounds(2)  # every client holds an open connection
        os.kill(api[0], signal.SIGKILL)
        back = event_with(run, "Api-1 is back")
        new_pid = int(str(back["message"]).split("(pid ")[1].split(",")[0])
        event_with(run, "shedding keep-alive connections down to our share of 2 workers")
        seen: set[int] = set()
        for _ in range(40):  # bounded: 40 rounds of one request per client
            seen |= rounds(1)
            if new_pid in seen:
                break
        assert new_pid in seen, (
            new_pid,
            seen,
            [str(e.get("message")) for e in run.events if "Api" in str(e.get("process"))][-12:],
        )
    finally:
        for client in clients:
            client.close()
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0


def test_killed_supervisor_lets_streams_finish_and_removes_the_nats_dir(serve: Any) -> None:
    run = serve(GRAPH, "--processes")
    run.ready()
    nats_pid, workdir = nats_info(run)
    assert os.path.isdir(workdir)
    out: list[tuple[list[int], str | None]] = []
    first = threading.Event()
    t = threading.Thread(target=_stream, args=(run.url, 8, 0.1, first, out))
    t.start()
    assert first.wait(30)
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(10)
    t.join(30)
    # The orphaned workers drained through a nats-server that was still up.
    assert out and out[0] == (list(range(8)), None), out
    assert wait_gone(sorted(run.pids | {nats_pid}), timeout=20) == []
    for _ in range(200):  # the keeper removes the dir right after the server stops
        if not os.path.exists(workdir):
            break
        threading.Event().wait(0.05)
    assert not os.path.exists(workdir)
    assert not alive(nats_pid)


def test_a_crash_looping_replica_does_not_end_the_run(serve: Any, tmp_path: Path) -> None:
    run = serve(
        GRAPH,
        "-f",
        str(Path(__file__).parents[1] / "serve" / "deploy_workers.yaml"),
        "--max-restarts",
        "2",
        env={"REVERIE_TEST_CRASH_RESTARTS_OF": f"Store-1:{tmp_path}"},
    )
    rows = run.rows()
    store = sorted(rows["Store"]["pids"])
    os.kill(store[0], signal.SIGKILL)
    gave_up = event_with(run, "not restarting it", timeout=60)
    assert "Store-1 crashed 3 times within 60 s" in gave_up["message"]
    assert "Store keeps running on Store-2 (reduced capacity)" in gave_up["message"]
    # Still serving, from the healthy replica (bounded: 10 requests).
    with httpx.Client(base_url=run.url, timeout=10) as client:
        for _ in range(10):
            r = client.get("/Api/pids")
            assert r.status_code == 200, r.text
            assert r.json()["store"] == store[1]
    assert run.proc.poll() is None
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0


def test_serve_takes_the_operator_limits(serve: Any) -> None:
    run = serve(GRAPH, "--max-header-size", "2048", "--max-concurrent", "1")
    run.ready()
    from tests.faults.test_bad_inputs import _raw

    out = _raw(
        run.port, b"GET /Api/pids HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * 3000 + b"\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 431 "), out[:200]
    out_: list[tuple[list[int], str | None]] = []
    first = threading.Event()
    t = threading.Thread(target=_stream, args=(run.url, 20, 0.1, first, out_))
    t.start()
    assert first.wait(30)
    r = httpx.get(f"{run.url}/Api/pids", timeout=10)
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert "its limit (max_concurrent)" in r.json()["message"]
    t.join(30)
    assert out_[0] == (list(range(20)), None)
    assert httpx.get(f"{run.url}/Api/pids", timeout=10).status_code == 200
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0


def test_a_frozen_replica_costs_only_its_in_flight_calls(serve: Any) -> None:
    run = serve(GRAPH, "-f", str(Path(__file__).parents[1] / "serve" / "deploy_workers.yaml"))
    store = sorted(run.rows()["Store"]["pids"])
    os.kill(store[0], signal.SIGSTOP)
    try:
        codes: list[str] = []
        with httpx.Client(base_url=run.url, timeout=15) as client:
            for _ in range(12):  # bounded; each answers (never hangs): 200, or a clean 503
                r = client.get("/Api/pids")
                if r.status_code == 200:
                    assert r.json()["store"] == store[1]
                    codes.append("ok")
                else:
                    assert r.status_code == 503, r.text
                    assert r.json()["code"] in ("worker_lost", "no_workers"), r.text
                    codes.append(r.json()["code"])
        assert "ok" in codes
    finally:
        os.kill(store[0], signal.SIGCONT)
    seen: set[int] = set()
    with httpx.Client(base_url=run.url, timeout=15) as client:
        for _ in range(600):  # thawed, it serves again once its lease is refreshed (bounded)
            r = client.get("/Api/pids")
            if r.status_code == 200:
                seen.add(r.json()["store"])
            if store[0] in seen:
                break
            threading.Event().wait(0.03)
    assert store[0] in seen
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
