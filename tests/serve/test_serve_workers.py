"""Supervised mode through the CLI: workers, spreading, kill -9 recovery, call/ls, drain on
SIGTERM, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from .conftest import GRAPH, HERE, ServeRun, alive, reverie, wait_gone

DEPLOY = str(HERE / "deploy_workers.yaml")


def _nats_url(run: ServeRun) -> str:
    ev = run.wait_for(lambda e: "embedded nats-server on" in str(e.get("message")))
    return str(ev["message"]).split(" on ")[1].split(" ")[0]


def _pids(run: ServeRun, n: int) -> list[dict[str, Any]]:
    out = []
    with httpx.Client(timeout=10.0) as client:
        for _ in range(n):
            r = client.get(f"{run.url}/Api/pids")
            assert r.status_code == 200, r.text
            out.append(r.json())
    return out


def test_workers_spread_kill9_replaced_call_and_ls(serve: Any) -> None:
    run = serve(GRAPH, "-f", DEPLOY)
    rows = run.rows()
    assert set(rows) == {"Store", "Logic", "Api"}
    assert all(r["state"] == "ready" for r in rows.values())
    store_pids = set(rows["Store"]["pids"])
    assert len(store_pids) == 2
    assert rows["Api"]["url"] == f"{run.url}/Api"

    # Requests are served across both Store workers.
    seen = {a["store"] for a in _pids(run, 16)}
    assert seen == store_pids

    # call and ls against the running deployment.
    nats = _nats_url(run)
    res = reverie("call", f"{nats}#svtest/Store", "count", "--data", '{"n": 3}')
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "1", "2"]
    res = reverie("call", f"{run.url}/Api", "count", "--data", '{"n": 2}')
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0", "1"]
    res = reverie("ls", nats, "--json")
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert sorted(r["component"] for r in listed) == ["Api", "Logic", "Store", "Store"]
    assert {r["pid"] for r in listed if r["component"] == "Store"} == store_pids

    # kill -9 one Store worker: replaced, and requests keep succeeding meanwhile.
    victim = sorted(store_pids)[0]
    os.kill(victim, signal.SIGKILL)
    answers = _pids(run, 10)
    assert all(a["store"] in store_pids for a in answers)
    back = run.wait_for(lambda e: "is back" in str(e.get("message")), timeout=20)
    new_pid = int(str(back["message"]).split("(pid ")[1].split(",")[0])
    assert new_pid not in store_pids and alive(new_pid)
    assert _pids(run, 4)
    crash = run.wait_for(lambda e: "killed by SIGKILL" in str(e.get("message")))
    assert "restarting in" in crash["message"]

    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
    assert wait_gone(sorted(run.pids | {new_pid})) == []


def test_sigterm_drains_streams_and_leaves_no_children(serve: Any, tmp_path: Path) -> None:
    run = serve(
        GRAPH, "-f", DEPLOY, "--drain-timeout", "8", env={"REVERIE_TEST_MARKS": str(tmp_path)}
    )
    run.ready()
    nats_pid = next(
        int(str(e["message"]).split("(pid ")[1].rstrip(")"))
        for e in run.events
        if "embedded nats-server on" in str(e.get("message"))
    )
    results: list[tuple[list[int], str | None]] = []
    first_item = threading.Barrier(4, timeout=20)

    def stream() -> None:
        items: list[int] = []
        err: str | None = None
        try:
            with (
                httpx.Client(timeout=20.0) as client,
                client.stream(
                    "POST",
                    f"{run.url}/Api/count",
                    json={"n": 8, "delay": 0.15},
                    headers={"accept": "application/x-ndjson"},
                ) as resp,
            ):
                assert resp.status_code == 200
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    if isinstance(item, dict) and "@error" in item:
                        err = str(item["@error"]["message"])
                        break
                    items.append(item)
                    if len(items) == 1:
                        first_item.wait()
        except httpx.HTTPError as exc:  # a clean error, not a hang
            err = f"{type(exc).__name__}: {exc}"
        results.append((items, err))

    threads = [threading.Thread(target=stream) for _ in range(3)]
    for t in threads:
        t.start()
    first_item.wait()
    run.signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    assert run.wait(30) == 0
    assert len(results) == 3
    for items, err in results:
        # Each stream either completed or ended with a clean error; never garbage.
        assert items == list(range(len(items)))
        assert err is not None or items == list(range(8)), (items, err)
    assert all(err is None for _, err in results), results  # the drain let them finish
    # on_shutdown hooks ran in every process.
    marks = sorted(p.name.split("-")[0] for p in tmp_path.iterdir())
    assert marks == ["Api", "Logic", "Store", "Store"]
    assert wait_gone(sorted(run.pids | {nats_pid})) == []


def test_killed_supervisor_leaves_no_orphans(serve: Any) -> None:
    run = serve(GRAPH, "-f", DEPLOY)
    run.ready()
    children = sorted(run.pids)
    assert len(children) >= 4  # nats-server, main, two Store workers
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(10)
    assert wait_gone(children, timeout=10) == []


def test_start_failure_exits_1_naming_the_worker(serve: Any) -> None:
    run = serve(GRAPH, "-f", DEPLOY, env={"REVERIE_TEST_FAIL_START": "1"})
    assert run.wait(30) == 1
    text = run.output()
    assert "failed while starting" in text
    assert "store cannot open its data (test)" in text
    assert wait_gone(sorted(run.pids)) == []


def test_crash_loop_marks_failed_and_exits_1(serve: Any) -> None:
    t0 = time.monotonic()
    run = serve(
        GRAPH,
        "-f",
        DEPLOY,
        "--max-restarts",
        "2",
        "--start-timeout",
        "20",
        env={"REVERIE_TEST_CRASH": "1"},
    )
    code = run.wait(60)
    text = run.output()
    assert code == 1, text
    assert "crashed 3 times within 60 s" in text
    assert "required service(s) Store" in text
    assert time.monotonic() - t0 < 60
    assert wait_gone(sorted(run.pids)) == []


def test_embedded_mode_serves_and_stops_cleanly(serve: Any, tmp_path: Path) -> None:
    run = serve(GRAPH, env={"REVERIE_TEST_MARKS": str(tmp_path), "REVERIE_API_KEY": "k3y"})
    rows = run.rows()
    res = reverie("ls", run.url, "--json", env={"REVERIE_API_KEY": "k3y"})
    assert res.returncode == 0, res.stderr
    assert sorted(r["name"] for r in json.loads(res.stdout)) == ["Api", "Logic", "Store"]
    res = reverie("ls", run.url, env={"REVERIE_API_KEY": ""})
    assert res.returncode == 1
    assert "HTTP 401" in res.stderr and "pass the host's API key with --key" in res.stderr
    assert {r["processes"][0] for r in rows.values()} == {"main"}
    assert rows["Api"]["pids"] == [run.proc.pid]
    answers = httpx.get(f"{run.url}/Api/pids", timeout=10).json()
    assert answers["api"] == answers["store"] == run.proc.pid
    assert not any("nats" in str(e.get("message")) for e in run.events)
    res = reverie("call", f"{run.url}/Api", "nope", "--data", "{}")
    assert res.returncode == 1 and "HTTP 404" in res.stderr and "/nope" in res.stderr
    run.signal(signal.SIGINT)
    assert run.wait(20) == 0
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["Api", "Logic", "Store"]


def test_port_in_use_fails_before_starting(serve: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "reverie.cli",
                "serve",
                GRAPH,
                "-f",
                DEPLOY,
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=str(HERE.parents[1]),
        )
    assert res.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr
    assert "nats-server" not in res.stdout


def _slow_stream(url: str, out: list[Any], n: int = 40, delay: float = 0.25) -> None:
    items: list[int] = []
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
                if line.strip():
                    items.append(json.loads(line))
        out.append((items, None))
    except httpx.HTTPError as exc:
        out.append((items, type(exc).__name__))


def test_drain_timeout_cuts_long_streams_cleanly(serve: Any) -> None:
    run = serve(GRAPH, "-f", DEPLOY, "--drain-timeout", "1", "--grace", "2")
    run.ready()
    out: list[Any] = []
    t = threading.Thread(target=_slow_stream, args=(run.url, out))
    t.start()
    time.sleep(0.8)
    t0 = time.monotonic()
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
    assert time.monotonic() - t0 < 15  # drain 1 s + grace, not the 10 s stream
    t.join(30)
    items, err = out[0]
    assert 0 < len(items) < 40 and items == list(range(len(items)))
    assert err is not None  # cut off: the client sees an error, never a hang
    assert wait_gone(sorted(run.pids)) == []


def test_second_signal_kills_at_once(serve: Any) -> None:
    run = serve(GRAPH, "-f", DEPLOY, "--drain-timeout", "30")
    run.ready()
    out: list[Any] = []
    t = threading.Thread(target=_slow_stream, args=(run.url, out))
    t.start()
    time.sleep(0.8)
    run.signal(signal.SIGTERM)
    time.sleep(1.5)  # a repeat within 1 s counts as the same request
    t0 = time.monotonic()
    run.signal(signal.SIGTERM)
    assert run.wait(20) == 1
    assert time.monotonic() - t0 < 10
    assert "stopped by a second SIGTERM" in run.output()
    t.join(30)
    assert wait_gone(sorted(run.pids)) == []


def test_embedded_start_failure_exits_1(serve: Any) -> None:
    run = serve(GRAPH, env={"REVERIE_TEST_FAIL_START": "1"})
    assert run.wait(30) == 1
    text = run.output()
    assert "start failed" in text and "store cannot open its data (test)" in text
    assert "Store" in text and "failed while starting" in text


def test_embedded_nats_server_restarted_when_it_dies(serve: Any) -> None:
    run = serve(GRAPH, "-f", DEPLOY)
    run.ready()
    ev = run.wait_for(lambda e: "embedded nats-server on" in str(e.get("message")))
    nats_pid = int(str(ev["message"]).split("(pid ")[1].rstrip(")"))
    os.kill(nats_pid, signal.SIGKILL)
    back = run.wait_for(lambda e: "nats-server is back" in str(e.get("message")), timeout=15)
    assert _nats_url(run) in back["message"]
    deadline = time.monotonic() + 20
    ok = False
    while time.monotonic() < deadline and not ok:
        try:
            ok = httpx.get(f"{run.url}/Api/pids", timeout=5).status_code == 200
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    assert ok, run.output()
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
    assert wait_gone(sorted(run.pids)) == []


def test_entry_workers_share_the_http_port(serve: Any, tmp_path: Path) -> None:
    f = tmp_path / "api2.yaml"
    f.write_text("Api:\n  ServiceArgs:\n    workers: 2\n")
    run = serve(GRAPH, "-f", str(f))
    rows = run.rows()
    api_pids = set(rows["Api"]["pids"])
    assert len(api_pids) == 2 and rows["Api"]["processes"] == ["Api-1", "Api-2"]
    seen: set[int] = set()
    for _ in range(200):  # new connection each time; the kernel picks the accepting worker
        seen.add(httpx.get(f"{run.url}/Api/pids", timeout=10).json()["api"])
        if seen == api_pids:
            break
    assert seen == api_pids
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0


def test_workers_are_pinned_and_see_only_their_env(serve: Any, tmp_path: Path) -> None:
    f = tmp_path / "pin.yaml"
    f.write_text(
        "Store:\n  ServiceArgs:\n    workers: 2\n    resources: {cpu: 1}\n"
        "    env: {STORE_MODE: fast}\n"
    )
    run = serve(GRAPH, "-f", str(f), "--cpus", "2")
    rows = run.rows()
    store = sorted(rows["Store"]["pids"])
    affinities = [os.sched_getaffinity(pid) for pid in store]
    assert all(len(a) == 1 for a in affinities) and affinities[0] != affinities[1]
    for pid in store:
        env = dict(
            kv.split("=", 1)
            for kv in Path(f"/proc/{pid}/environ").read_text().split("\0")
            if "=" in kv
        )
        assert env["STORE_MODE"] == "fast" and env["CUDA_VISIBLE_DEVICES"] == ""
    main_pid = rows["Api"]["pids"][0]
    assert len(os.sched_getaffinity(main_pid)) == len(os.sched_getaffinity(0))
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
