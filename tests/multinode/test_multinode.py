"""Behaviour across machines (network namespaces, see conftest.py): Front on n1, a Worker
replica on n2 and on n3, a nats-server member on each, the caller agent on n1.

The tests run in file order on one cluster: the conformance suite, a NATS member killed (and
brought back), a partition and its healing, then a whole node killed.

LOST_BOUND: a call in flight on an instance that became unreachable ends with
``WorkerLostError`` after 0.7 s without a frame (heartbeats every 0.2 s); the documented bound
is 2 s (docs/multi-machine.md). The tests assert 3 s so a loaded 2-core CI machine does not
make them flaky; the measured figures are printed (pytest -s) and are typically 0.8-1.0 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from .conftest import NODES, ROOT, Cluster, wait_until

LOST_BOUND = 3.0
#: a caller error is allowed only for calls started this soon after a member was killed
MOVE_BOUND = 3.0
LOST = ("WorkerLostError", "NoWorkersError")


def _worker_pids(c: Cluster) -> dict[str, int]:
    assert c.agent is not None
    out: dict[str, int] = {}
    for r in c.agent("calls", n=6):
        assert r["error"] is None, r
        out[r["node"]] = r["pid"]
    assert set(out) == {"n2", "n3"}, (out, c.agent("state"))
    return out


def _both_answer(c: Cluster) -> dict[str, int] | None:
    """``_worker_pids`` for ``wait_until``: None (try again) instead of failing."""
    assert c.agent is not None
    out = {r["node"]: r["pid"] for r in c.agent("calls", n=6) if r["error"] is None}
    return out if set(out) == {"n2", "n3"} else None


def _streams_on(c: Cluster, nodes: set[str]) -> list[str]:
    """Start endless streams until some run on each of ``nodes``; their nodes."""
    assert c.agent is not None
    started = c.agent("streams", n=4)
    assert nodes <= set(started), started
    return list(started)


def test_conformance_suite_with_every_hop_crossing_machines(cluster: Cluster) -> None:
    # The suite's NATS kind, run on n1: its caller connects to n1's member, Relay's host to
    # n2's, Echo's to n3's, so every request and reply crosses the bridge between machines.
    urls = ",".join(cluster.url(i) for i in range(1, NODES + 1))
    res = subprocess.run(
        cluster.machines[1].command(
            sys.executable,
            "-m",
            "pytest",
            "tests/conformance",
            "-k",
            "nats",
            "-q",
            "-p",
            "no:cacheprovider",
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "REVERIE_CONFORMANCE_NATS": urls},
    )
    failures = [ln for ln in res.stdout.splitlines() if ln.startswith(("E ", "FAILED"))]
    assert res.returncode == 0, "\n".join(failures[-40:]) + res.stderr[-2000:]
    assert " passed" in res.stdout and "deselected" in res.stdout


def test_one_nats_member_killed_loses_no_lease_or_blueprint(cluster: Cluster) -> None:
    agent = cluster.agent
    assert agent is not None
    pids = _worker_pids(cluster)
    # Front.where + Worker.{whoami,ticks} x 2, and each instance's features (rv-http) x 3; read
    # again if a read timed out (the buckets are R3 across machines: a read can time out while
    # a stream's leader is being elected)
    before = wait_until(lambda: _state_with(agent, 8), "all eight registrations readable", 30)
    assert before["replicas"] == 3 and before["blueprint"]
    _streams_on(cluster, {"n2", "n3"})
    t_kill = time.monotonic()
    cluster.members[2].kill()  # n2's member: the n2 Worker is connected to it
    cluster.members[2].wait(10)
    # calls keep working: the only ones that may fail are those in flight through that member
    # while it died (sent to the n2 Worker before it moved to another member, ~0.3 s)
    calls = agent("calls", n=20)
    for r in calls:
        if r["error"] is not None:
            assert r["error"].split(":")[0] in (*LOST, "TransportError"), r
            assert r["t0"] - t_kill < MOVE_BOUND, r
    assert all(r["error"] is None for r in calls[-10:]), calls
    streams = agent("stream_results", wait_for=["n2"], timeout=15)
    agent("stop_streams")
    for s in streams:
        if s["node"] == "n3":
            assert s["error"] is None, s  # not through the dead member: untouched
        else:
            assert s["error"] is None or s["error"].split(":")[0] in (*LOST, "TransportError"), s
    # no lease or blueprint lost; the stream kept its history (not rebuilt from nothing)
    after = wait_until(lambda: _state_with(agent, 8), "all eight registrations readable", 30)
    assert after["blueprint"] and after["replicas"] == 3
    assert after["workers_last_seq"] >= before["workers_last_seq"]
    assert after["blueprints_last_seq"] >= before["blueprints_last_seq"]
    # the n2 Worker moved to another member by itself: same process, reachable again
    assert wait_until(lambda: _both_answer(cluster), "both Workers answer again", 30) == pids
    assert cluster.restarts(2) == []
    # bring the member back for the next tests (same store: it catches up)
    cluster.start_member(2)


def _state_with(agent: Any, n: int) -> Any:
    try:
        state = agent("state")
    except AssertionError:  # "nats: timeout" while a stream elects its new leader
        return None
    return state if len(state["registrations"]) == n else None


def test_partition_then_rejoin_without_restarts(cluster: Cluster) -> None:
    agent = cluster.agent
    assert agent is not None
    pids = _worker_pids(cluster)
    _streams_on(cluster, {"n2", "n3"})
    t_cut = time.monotonic()
    cluster.machines.partition(3)
    try:
        streams = agent("stream_results", wait_for=["n3"], timeout=20)
        cut = [s for s in streams if s["node"] == "n3"]
        kept = [s for s in streams if s["node"] == "n2"]
        print(
            "partition: n3 streams ended after",
            [round(s["t_end"] - t_cut, 3) for s in cut if s["t_end"]],
            "s",
        )
        for s in cut:
            assert s["error"] and s["error"].split(":")[0] in LOST, s
            assert s["t_end"] - t_cut <= LOST_BOUND, s
        assert all(s["error"] is None for s in kept), kept  # the reachable replica goes on
        agent("stop_streams")
        # new calls route to the replica that is still reachable; none hangs
        calls = agent("calls", n=20, timeout=10)
        for r in calls:
            assert r["node"] == "n2" or (r["error"] and r["error"].split(":")[0] in LOST), r
            assert r["seconds"] <= LOST_BOUND, r
        assert [r["node"] for r in calls[-10:]] == ["n2"] * 10, calls
    finally:
        cluster.machines.heal(3)
    # rejoin: the n3 Worker serves again; no process was restarted anywhere
    wait_until(
        lambda: "n3" in {r["node"] for r in agent("calls", n=4)},
        "calls reach n3 again after the link came back",
        60,
    )
    assert _worker_pids(cluster) == pids
    for i in range(1, NODES + 1):
        assert cluster.serves[i].poll() is None
        assert cluster.restarts(i) == [], cluster.restarts(i)


def test_whole_node_killed(cluster: Cluster) -> None:
    agent = cluster.agent
    assert agent is not None
    _worker_pids(cluster)
    agent("front", n=2)  # Front (n1) has its Worker client, as a serving Front would
    _streams_on(cluster, {"n2", "n3"})
    t_kill = time.monotonic()
    cluster.machines.kill(3)  # kill -9 of every process on n3: member, supervisor, workers
    streams = agent("stream_results", wait_for=["n3"], timeout=20)
    print(
        "node killed: n3 streams ended after",
        [round(s["t_end"] - t_kill, 3) for s in streams if s["node"] == "n3" and s["t_end"]],
        "s",
    )
    for s in streams:
        if s["node"] == "n3":
            assert s["error"] and s["error"].split(":")[0] in LOST, s
            assert s["t_end"] - t_kill <= LOST_BOUND, s
        else:
            assert s["error"] is None, s
    agent("stop_streams")
    calls = agent("calls", n=20, timeout=10)
    for r in calls:
        assert r["node"] == "n2" or (r["error"] and r["error"].split(":")[0] in LOST), r
        assert r["seconds"] <= LOST_BOUND, r
    assert [r["node"] for r in calls[-10:]] == ["n2"] * 10, calls
    # the other nodes' supervisors keep running, nothing restarted there
    for i in (1, 2):
        assert cluster.serves[i].poll() is None
        assert cluster.restarts(i) == []
    assert cluster.machines[3].pids() == []
    front = agent("front", n=3)
    assert all(f.get("worker", {}).get("node") == "n2" for f in front), front
    # and the last replica cut off too: NoWorkersError at once, never a hang
    cluster.machines.partition(2)
    try:
        calls = agent("calls", n=6, timeout=10)
    finally:
        cluster.machines.heal(2)
    print("last replica cut: calls ended after", [round(r["seconds"], 3) for r in calls], "s")
    for r in calls:
        assert r["error"] and r["error"].split(":")[0] in LOST, r
        assert r["seconds"] <= LOST_BOUND, r
    assert calls[-1]["error"].startswith("NoWorkersError"), calls
