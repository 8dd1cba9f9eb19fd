"""Placement by node: the ``nodes:`` section, ``ServiceArgs.node``, ``--node`` and
``--dry-run --node``; bad placement fails before start naming file and line; two nodes joined
over one (loopback) nats-server serve one graph."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reverie._private.config.deployment import parse_deployment
from reverie._private.config.placement import check_placement
from reverie._private.runtime.natsserver import NatsServer
from reverie.errors import DeploymentError

from .conftest import GRAPH, reverie

SERVICES = ["Store", "Logic", "Api"]

PLACED = """\
nodes:
  web: {default: true}
  gpu-a: {gpus: [2, 3], cpus: 2, memory: 4Gi, services: [Store]}
Logic:
  ServiceArgs: {node: [web, gpu-a]}
Store:
  ServiceArgs:
    resources: {gpu: 1}
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    return str(path)


def _plan(*args: str) -> dict[str, Any]:
    res = reverie("serve", GRAPH, "--dry-run", "--json", *args)
    assert res.returncode == 0, res.stderr
    plan: dict[str, Any] = json.loads(res.stdout)
    return plan


def _check(text: str, node: str | None = None) -> Any:
    return check_placement(parse_deployment(text, "d.yaml"), SERVICES, node)


def test_placement_default_node_and_sources() -> None:
    p = _check(PLACED)
    assert p.where == {"Store": ["gpu-a"], "Logic": ["web", "gpu-a"], "Api": ["web"]}
    assert p.source["Store"] == "d.yaml:3"
    assert p.source["Logic"] == "d.yaml:5"
    assert p.source["Api"] == "d.yaml:2 (nodes.web.default)"
    first = _check("nodes:\n  a: {}\n  b: {services: [Store]}\n")
    assert first.where["Api"] == ["a"] and "the first node" in first.source["Api"]


def test_no_nodes_section_means_no_placement() -> None:
    assert _check("Store: {ServiceArgs: {workers: 1}}\n") is None


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "nodes:\n  a: {}\nStore:\n  ServiceArgs: {node: b}\n",
            4,
            ["Store is placed on node 'b'", "does not declare", "nodes: a"],
        ),
        ("nodes:\n  a: {}\n  b: {}\n", 3, ["node 'b' runs no service"]),
        (
            "nodes:\n  a: {services: [Store]}\n  b: {}\nStore:\n  ServiceArgs: {node: b}\n",
            5,
            ["Store is placed twice", "nodes.a.services (d.yaml:2)"],
        ),
        ("nodes:\n  a: {services: [Store, Store]}\n", 2, ["Store is listed twice on node 'a'"]),
        ("nodes:\n  a: {services: [Stroe]}\n", 2, ["'Stroe', which is no service", "'Store'"]),
        ("nodes:\n  a: {default: true}\n  b: {default: true}\n", 3, ["both default: true"]),
        ("Store:\n  ServiceArgs: {node: a}\n", 2, ["the file has no nodes: section"]),
    ],
)
def test_bad_placement_names_file_and_line(text: str, line: int, words: list[str]) -> None:
    with pytest.raises(DeploymentError) as info:
        _check(text)
    assert info.value.line == line
    message = str(info.value)
    assert f"d.yaml:{line}" in message
    for w in words:
        assert w in message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("nodes:\n  a: {gpus: -1}\n", 2, ["gpus must be a count"]),
        ("nodes:\n  a: {gpus: [0, 0]}\n", 2, ["distinct device ids"]),
        ("nodes:\n  a: {cpu: 2}\n", 2, ["unknown key 'cpu'", "did you mean 'cpus'"]),
        ("nodes:\n  a b: {}\n", 2, ["a node name is letters"]),
        ("nodes:\n  a: {services: Store}\n", 2, ["services must be a list"]),
        ("nodes:\n  a: {}\nStore:\n  ServiceArgs: {node: []}\n", 4, ["node is an empty list"]),
    ],
)
def test_bad_nodes_section_fails_at_parse(text: str, line: int, words: list[str]) -> None:
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "d.yaml")
    assert info.value.line == line
    for w in words:
        assert w in str(info.value)


def test_unknown_or_pointless_node_flag() -> None:
    with pytest.raises(DeploymentError, match=r"--node 'gpu-b' is not a node.*did you mean"):
        _check(PLACED, "gpu-b")
    with pytest.raises(DeploymentError, match="declares no nodes"):
        _check("Store: {ServiceArgs: {workers: 1}}\n", "a")


def test_dry_run_node_shows_its_share_and_what_it_expects(tmp_path: Path) -> None:
    path = _write(tmp_path, PLACED)
    gpu = _plan("-f", path, "--node", "gpu-a")
    assert gpu["node"] == "gpu-a" and gpu["mode"] == "processes"
    assert gpu["nodes"] == {"web": ["Logic", "Api"], "gpu-a": ["Store", "Logic"]}
    assert [p["services"] for p in gpu["processes"]] == [["Store", "Logic"]]
    assert gpu["http"] is None  # the entry runs on web
    assert [e["service"] for e in gpu["expects"]] == ["Api"]
    # per-node resources: the node's declared GPUs are the ones pinned
    inv = gpu["inventory"]
    assert inv["gpus"] == 2 and inv["gpu_source"].endswith("(nodes.gpu-a.gpus)")
    assert gpu["processes"][0]["env"]["CUDA_VISIBLE_DEVICES"] == "2"
    web = _plan("-f", path, "--node", "web")
    assert [p["services"] for p in web["processes"]] == [["Logic", "Api"]]
    assert web["expects"] == [
        {"service": "Store", "nodes": ["gpu-a"], "namespace": "svtest", "component": "Store"}
    ]
    assert web["http"] == "http://127.0.0.1:8000"
    # --gpus beats the node's declaration
    forced = _plan("-f", path, "--node", "gpu-a", "--gpus", "1")
    assert forced["inventory"]["gpu_source"] == "--gpus"
    # without --node every node's share runs here
    everything = _plan("-f", path, "--gpus", "1")
    assert everything["node"] is None and everything["expects"] == []


def test_dry_run_node_text_names_the_other_nodes(tmp_path: Path) -> None:
    res = reverie("serve", GRAPH, "--dry-run", "-f", _write(tmp_path, PLACED), "--node", "web")
    assert res.returncode == 0, res.stderr
    assert "expected from the other nodes" in res.stdout
    assert "gpu-a runs Store, Logic" in res.stdout


def test_bad_node_flag_exits_2_before_starting(tmp_path: Path) -> None:
    res = reverie("serve", GRAPH, "-f", _write(tmp_path, PLACED), "--node", "gpu-b")
    assert res.returncode == 2
    assert "deploy.yaml:1" in res.stderr and "--node 'gpu-b' is not a node" in res.stderr
    res = reverie("serve", GRAPH, "-f", _write(tmp_path, "nodes:\n  a: {}\n  b: {}\n"))
    assert res.returncode == 2 and "deploy.yaml:3" in res.stderr
    assert "node 'b' runs no service" in res.stderr


def test_two_nodes_serve_one_graph_over_nats(serve: Any, tmp_path: Path) -> None:
    path = _write(tmp_path, PLACED.replace("resources: {gpu: 1}", "workers: 1"))
    server = NatsServer().start_sync()
    try:
        gpu = serve(GRAPH, "-f", path, "--node", "gpu-a", "--nats", server.url)
        web = serve(GRAPH, "-f", path, "--node", "web", "--nats", server.url)
        assert set(gpu.rows()) == {"Store", "Logic"}
        assert set(web.rows()) == {"Logic", "Api"}
        with urllib.request.urlopen(f"{web.url}/Api/pids", timeout=10) as resp:
            pids = json.loads(resp.read())
        store_pid = gpu.rows()["Store"]["pids"][0]
        assert pids["store"] == store_pid  # Store ran on the other node
        gpu.wait_for(lambda e: "Api: on node(s) web" in str(e.get("message")))
    finally:
        server.stop_sync()
        server.cleanup()
