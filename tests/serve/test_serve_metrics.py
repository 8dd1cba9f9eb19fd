"""``reverie serve --processes``: one /metrics on the entry port covers every process, each
sample labelled with its process and node, per-edge series over NATS, restarts counted."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.serve.conftest import GRAPH, ServeRun

KEY = "metrics-test-key-77"


def _families(run: ServeRun) -> dict[str, Any]:
    r = httpx.get(f"{run.url}/metrics", timeout=10)
    assert r.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def test_one_metrics_endpoint_covers_every_process(serve: Any) -> None:
    run: ServeRun = serve(GRAPH, "--processes", env={"REVERIE_API_KEY": KEY})
    rows = run.rows()
    assert set(rows) == {"Api", "Logic", "Store"}
    for _ in range(6):
        assert httpx.get(f"{run.url}/Api/pids", timeout=10).status_code == 200
    fams = _families(run)
    up = {s.labels["process"] for s in fams["reverie_process_up"].samples}
    assert len(up) == 3
    calls = {
        (s.labels["caller"], s.labels["callee"], s.labels["transport"]): s
        for s in fams["reverie_edge_calls"].samples
        if s.name.endswith("_total") and s.labels["outcome"] == "ok"
    }
    api_logic = calls[("Api", "Logic", "nats")]
    logic_store = calls[("Logic", "Store", "nats")]
    assert api_logic.value == 6.0 and logic_store.value == 6.0
    assert api_logic.labels["process"] != logic_store.labels["process"]
    assert api_logic.labels["node"] and logic_store.labels["node"]
    served = {s.labels["process"] for s in fams["reverie_requests"].samples}
    assert len(served) == 3  # each process's own instances, labelled with it

    # The dashboard of the entry shows every process's instances and edges.
    data = httpx.get(
        f"{run.url}/@host/dashboard/data", timeout=10, headers={"Authorization": f"Bearer {KEY}"}
    ).json()
    services = {s["name"]: s for s in data["services"]}
    assert set(services) == {"Api", "Logic", "Store"}
    assert all(s["state"] == "running" and s["where"] == "local" for s in services.values())
    assert len({s["process"] for s in services.values()}) == 3
    edges = {(e["from"], e["to"]): e for e in data["edges"]}
    assert edges[("Api", "Logic")]["calls"] == 6 and edges[("Logic", "Store")]["calls"] == 6
    assert edges[("Logic", "Store")]["transport"].startswith("nats")

    # kill -9 the Store process: the supervisor restarts it and /metrics counts the restart.
    store_pid = rows["Store"]["pids"][0]
    os.kill(store_pid, signal.SIGKILL)
    run.wait_for(lambda e: "is back" in str(e.get("message")), timeout=30)
    fams = _families(run)
    restarts = {s.labels["process"]: s.value for s in fams["reverie_process_restarts"].samples}
    assert sorted(restarts.values()) == [0.0, 0.0, 1.0]
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
