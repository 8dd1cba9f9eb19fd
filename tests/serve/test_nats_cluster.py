"""``reverie serve --nats-cluster``: the embedded nats-server joins a NATS cluster (routes,
cluster name, server name) and the runtime's buckets get ``--nats-replicas`` copies; a client
of another member reaches the services."""

from __future__ import annotations

import json
from typing import Any

from reverie._private.runtime.natsserver import NatsCluster, NatsServer

from .conftest import GRAPH, free_port, reverie


def test_embedded_member_joins_a_cluster_and_serves_through_it(serve: Any) -> None:
    ours, theirs = free_port(), free_port()
    routes = f"nats://127.0.0.1:{ours},nats://127.0.0.1:{theirs}"
    other = NatsServer(
        server_name="other",
        cluster=NatsCluster("rvserve", f"127.0.0.1:{theirs}", routes.split(",")),
    ).start_sync()
    try:
        run = serve(
            GRAPH,
            "--processes",
            "--nats-cluster",
            "rvserve",
            "--nats-routes",
            routes,
            "--nats-cluster-listen",
            f"127.0.0.1:{ours}",
            "--nats-replicas",
            "2",
            "--nats-name",
            "ours",
        )
        run.ready(60)  # R2 buckets exist only once both members formed one JetStream cluster
        assert any(
            "member 'ours' of cluster 'rvserve'" in str(e.get("message")) for e in run.events
        )
        res = reverie("call", f"{other.url}#svtest/Store", "whoami")
        assert res.returncode == 0, res.stderr
        assert int(json.loads(res.stdout)) == run.rows()["Store"]["pids"][0]
    finally:
        other.stop_sync()
        other.cleanup()


def test_cluster_flags_are_checked_before_start() -> None:
    res = reverie("serve", GRAPH, "--nats-routes", "nats://127.0.0.1:1")
    assert res.returncode == 2 and "--nats-routes needs --nats-cluster NAME" in res.stderr
    res = reverie("serve", GRAPH, "--nats-cluster", "c", "--nats", "nats://127.0.0.1:1")
    assert res.returncode == 2 and "give one" in res.stderr
    res = reverie("serve", GRAPH, "--nats-replicas", "9", "--dry-run")
    assert res.returncode == 2 and "JetStream keeps 1 to 5 copies" in res.stderr


def test_dry_run_shows_the_cluster_member() -> None:
    res = reverie(
        "serve",
        GRAPH,
        "--dry-run",
        "--json",
        "--nats-cluster",
        "c",
        "--nats-routes",
        "nats://10.1.0.2:6222",
        "--nats-name",
        "a",
        "--nats-replicas",
        "3",
    )
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert plan["mode"] == "processes" and plan["nats_replicas"] == 3
    assert plan["nats_member"]["server_name"] == "a"
    assert plan["nats_member"]["cluster"]["routes"] == ["nats://10.1.0.2:6222"]
