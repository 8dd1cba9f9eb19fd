"""``reverie serve --dry-run``, over-allocation, bad deployment files and ``reverie graph``,
through the CLI as a subprocess. Nothing here starts a service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import GRAPH, HERE, reverie

DEPLOY = str(HERE / "deploy_workers.yaml")

GPU_DEPLOY = """\
Store:
  ServiceArgs:
    workers: 2
    resources: {gpu: 1, cpu: 1, memory: 1Gi}
    env:
      MODEL: tiny
Logic:
  ServiceArgs:
    process: separate
    resources: {gpu: 0.5}
"""


def _plan(*args: str) -> dict[str, Any]:
    res = reverie("serve", GRAPH, "--dry-run", "--json", *args)
    assert res.returncode == 0, res.stderr
    plan: dict[str, Any] = json.loads(res.stdout)
    return plan


def test_dry_run_embedded_by_default() -> None:
    plan = _plan()
    assert plan["mode"] == "embedded"
    assert plan["nats"] is None
    assert [p["name"] for p in plan["processes"]] == ["main"]
    assert plan["processes"][0]["services"] == ["Store", "Logic", "Api"]
    assert plan["processes"][0]["http"] is True
    assert plan["http"] == "http://127.0.0.1:8000"


def test_dry_run_workers_plan_levels_and_nats() -> None:
    plan = _plan("-f", DEPLOY, "--port", "9123")
    assert plan["mode"] == "processes"
    assert plan["nats"] == "embedded"
    assert any("workers=2" in r and "deploy_workers.yaml:4" in r for r in plan["reasons"])
    procs = {p["name"]: p for p in plan["processes"]}
    assert set(procs) == {"Store-1", "Store-2", "main"}
    assert procs["Store-1"]["start_level"] == procs["Store-2"]["start_level"] == 0
    assert procs["main"]["start_level"] == 1
    assert procs["main"]["services"] == ["Logic", "Api"] and procs["main"]["http"]
    assert plan["http"] == "http://127.0.0.1:9123"
    store = next(s for s in plan["services"] if s["name"] == "Store")
    assert store["workers"] == 2 and store["workers_source"].endswith("deploy_workers.yaml:4")


def test_dry_run_assigns_gpus_and_cpus_explicitly(tmp_path: Path) -> None:
    f = tmp_path / "gpu.yaml"
    f.write_text(GPU_DEPLOY)
    plan = _plan("-f", str(f), "--gpus", "3", "--cpus", "2")
    assert plan["inventory"]["gpus"] == 3 and plan["inventory"]["gpu_source"] == "--gpus"
    assert plan["inventory"]["cpu_source"] == "--cpus"
    procs = {p["name"]: p for p in plan["processes"]}
    s1, s2, logic = procs["Store-1"], procs["Store-2"], procs["Logic"]
    assert s1["env"]["CUDA_VISIBLE_DEVICES"] == "0" and s2["env"]["CUDA_VISIBLE_DEVICES"] == "1"
    assert logic["env"]["CUDA_VISIBLE_DEVICES"] == "2" and logic["gpu"] == 0.5
    assert procs["main"]["env"]["CUDA_VISIBLE_DEVICES"] == ""  # nothing implicit
    assert len(s1["cpus"]) == 1 and len(s2["cpus"]) == 1 and s1["cpus"] != s2["cpus"]
    assert s1["env"]["MODEL"] == "tiny" and s1["env_sources"]["MODEL"].endswith("gpu.yaml:6")
    assert s1["memory"] == 1024**3
    # The text view names the same facts.
    res = reverie("serve", GRAPH, "--dry-run", "-f", str(f), "--gpus", "3", "--cpus", "2")
    assert res.returncode == 0, res.stderr
    assert "3 GPUs (--gpus)" in res.stdout and "Store-2" in res.stdout


def test_over_allocation_fails_naming_service_and_numbers(tmp_path: Path) -> None:
    f = tmp_path / "gpu.yaml"
    f.write_text(GPU_DEPLOY)
    res = reverie("serve", GRAPH, "-f", str(f), "--gpus", "1", "--dry-run")
    assert res.returncode == 2
    err = res.stderr
    assert "the plan needs 3 GPUs" in err
    assert "Store 2 worker(s) x gpu 1" in err and "Logic 1 worker(s) x gpu 0.5" in err
    assert "the machine has 1 (--gpus)" in err
    assert "Store.resources.gpu" in err and "gpu.yaml:4" in err
    # Without --dry-run it fails the same way, before anything starts.
    res = reverie("serve", GRAPH, "-f", str(f), "--gpus", "1", "--port", "1")
    assert res.returncode == 2 and "the plan needs 3 GPUs" in res.stderr
    assert "nats-server" not in res.stdout


def test_cpu_over_allocation(tmp_path: Path) -> None:
    f = tmp_path / "cpu.yaml"
    f.write_text("Store:\n  ServiceArgs:\n    workers: 3\n    resources: {cpu: 1}\n")
    res = reverie("serve", GRAPH, "-f", str(f), "--cpus", "2", "--dry-run")
    assert res.returncode == 2
    assert "the plan needs 3 CPUs (Store 3 worker(s) x cpu 1)" in res.stderr
    assert "the machine has 2 (--cpus)" in res.stderr


def test_env_conflict_in_shared_process(tmp_path: Path) -> None:
    f = tmp_path / "env.yaml"
    f.write_text(
        "Logic:\n  ServiceArgs:\n    env: {MODE: a}\nApi:\n  ServiceArgs:\n    env: {MODE: b}\n"
    )
    res = reverie("serve", GRAPH, "-f", str(f), "--dry-run")
    assert res.returncode == 2
    assert "env MODE is 'a'" in res.stderr and "for services sharing process 'main'" in res.stderr


def _bad(tmp_path: Path, text: str) -> str:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    res = reverie("serve", GRAPH, "-f", str(f), "--port", "1")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "nats-server" not in res.stdout and "ready" not in res.stdout
    return res.stderr


def test_bad_deployment_unknown_key(tmp_path: Path) -> None:
    err = _bad(tmp_path, "Store:\n  ServiceArgs:\n    wrokers: 2\n")
    assert "bad.yaml:3" in err and "Store.ServiceArgs.wrokers" in err
    assert "did you mean 'workers'" in err


def test_bad_deployment_wrong_type(tmp_path: Path) -> None:
    err = _bad(tmp_path, "Store:\n  ServiceArgs:\n    workers: two\n")
    assert "bad.yaml:3" in err and "Store.ServiceArgs.workers" in err
    assert "workers must be an integer >= 1, got 'two'" in err


def test_bad_deployment_unknown_section(tmp_path: Path) -> None:
    err = _bad(tmp_path, "Stor:\n  ServiceArgs:\n    workers: 2\n")
    assert "bad.yaml:1" in err and "section 'Stor' names no service of this graph" in err


def test_bad_deployment_unknown_sid_in_bind(tmp_path: Path) -> None:
    err = _bad(tmp_path, 'bind:\n  "sid://nowhere.example/x": tests.serve.svc_graph:Store\n')
    assert "bad.yaml:2" in err and "bind.sid://nowhere.example/x" in err
    assert "no service of this graph declares or depends on" in err


def test_bad_target() -> None:
    res = reverie("serve", "tests.serve.svc_graph:Nope", "--dry-run")
    assert res.returncode == 2
    assert "has no attribute 'Nope'" in res.stderr
    res = reverie("serve", "tests.serve.no_such_module:Api", "--dry-run")
    assert res.returncode == 2 and "cannot import" in res.stderr


def test_graph_command() -> None:
    res = reverie("graph", GRAPH)
    assert res.returncode == 0, res.stderr
    for name in ("Api", "Logic", "Store"):
        assert name in res.stdout
    assert res.stdout.index("Api") < res.stdout.index("Logic") < res.stdout.index("Store")


def test_call_and_ls_errors() -> None:
    res = reverie("call", "ftp://x", "e")
    assert res.returncode == 2 and "neither an http:// nor a nats:// target" in res.stderr
    res = reverie("call", "http://127.0.0.1:1/Api", "count", "--data", "{bad")
    assert res.returncode == 2 and "--data is not valid JSON" in res.stderr
    res = reverie("call", "nats://127.0.0.1:1", "count")
    assert res.returncode == 2 and "nats://HOST:PORT#NAMESPACE/COMPONENT" in res.stderr
    res = reverie("call", "http://127.0.0.1:1/Api", "count", "--data", "{}")
    assert res.returncode == 1 and "cannot call http://127.0.0.1:1/Api/count" in res.stderr
    res = reverie("ls", "http://127.0.0.1:1")
    assert res.returncode == 1 and "cannot reach http://127.0.0.1:1/@host/services" in res.stderr
    res = reverie("serve", GRAPH, "--log-format", "xml", "--dry-run")
    assert res.returncode == 2 and "--log-format 'xml'" in res.stderr


def test_graph_module_names_its_entry() -> None:
    res = reverie("serve", "tests.serve.svc_graph", "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["entry"] == "Api"
    res = reverie("serve", "tests.serve.deps_none", "--dry-run")
    assert res.returncode == 2
    assert "module 'tests.serve.deps_none' names no entry service" in res.stderr
    assert "set 'entry = ClassName' in the module" in res.stderr
