"""`reverie config MODULE:CLASS -f deploy.yaml`, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "tests.svc_config_graph:Frontend"

DEPLOY = """\
Common:
  model_path: /models/common
Frontend:
  port: 8080
Worker:
  model_path: /models/x
  token: hunter2
  ServiceArgs:
    workers: 3
    resources: {memory: 8Gi}
    env: {HF_HOME: /tmp/hf, HF_TOKEN: abc123}
  runtime: {namespace: demo}
RedisCache:
  password: pa55word
bind:
  "sid://example.org/2026/config-cache": tests.svc_config_impl:RedisCache
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REVERIE_")}
    full_env.update({"COLUMNS": "200", "NO_COLOR": "1"})
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "reverie.cli", "config", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text(DEPLOY)
    return path


def rows(out: str, key: str) -> list[str]:
    """The table rows whose first cell is ``key``, cells joined with ' | '."""
    found = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == key:
            found.append(" | ".join(cells))
    return found


def row(out: str, key: str) -> str:
    """The first table row whose first cell is ``key``."""
    found = rows(out, key)
    assert found, f"no row {key!r} in:\n{out}"
    return found[0]


def test_tables_show_value_and_source_per_layer(deploy: Path) -> None:
    proc = run(ENTRY, "-f", str(deploy), env={"REVERIE_WORKER__BATCH": "16"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for title in (
        "Frontend: config",
        "Worker: config",
        "AtomService: config",
        "RedisCache: config",
        "Worker: ServiceArgs",
    ):
        assert title in out
    assert row(out, "port") == f"port | int | 8080 | {deploy}:4"
    assert row(out, "batch") == "batch | int | 16 | env REVERIE_WORKER__BATCH"
    assert row(out, "tags") == "tags | list[str] | [] | class default"
    assert row(out, "token") == f"token | str | **** | {deploy}:7"
    assert row(out, "password") == f"password | str | **** | {deploy}:14"
    assert rows(out, "model_path") == [
        f"model_path | str | /models/x | {deploy}:6",
        f"model_path | str | /models/common | {deploy}:2 (Common)",
    ]
    assert row(out, "workers").startswith("workers | 1 | @service default")  # Frontend first
    assert row(out, "resources.memory") == f"resources.memory | 8Gi | {deploy}:10"
    assert row(out, "env.HF_TOKEN") == f"env.HF_TOKEN | **** | {deploy}:11"
    assert "hunter2" not in out and "pa55word" not in out and "abc123" not in out


def test_unbound_sid_is_skipped_with_a_note() -> None:
    proc = run(ENTRY, env={"REVERIE_WORKER__MODEL_PATH": "/m"})
    assert proc.returncode == 0, proc.stderr
    assert "RedisCache" not in proc.stdout
    assert (
        "note: Frontend.cache -> sid://example.org/2026/config-cache: not bound in the "
        "deployment file's 'bind:'; skipped"
    ) in proc.stdout


def test_json_output(deploy: Path) -> None:
    proc = run(ENTRY, "-f", str(deploy), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    services = {s["service"]: s for s in data["services"]}
    assert list(services) == ["Frontend", "Worker", "AtomService", "RedisCache"]
    worker = {c["key"]: c for c in services["Worker"]["config"]}
    assert worker["token"] == {
        "key": "token",
        "value": "****",
        "source": f"{deploy}:7",
        "secret": True,
    }
    assert worker["tags"]["value"] == []
    args = services["Worker"]["args"]
    assert args["workers"] == {"value": 3, "source": f"{deploy}:9"}
    assert args["namespace"] == {"value": "demo", "source": f"{deploy}:12"}
    assert args["resources"]["gpu"] == {"value": 1, "source": "@service default"}
    assert args["env"]["HF_TOKEN"]["value"] == "****"
    assert data["notes"] == []
    assert "hunter2" not in proc.stdout


def test_missing_required_key_fails_with_how_to_set() -> None:
    proc = run(ENTRY)
    assert proc.returncode == 1
    assert "error: Worker.model_path: required config key is not set in any layer" in proc.stderr
    assert "REVERIE_WORKER__MODEL_PATH" in proc.stderr


def test_bad_deployment_file_names_file_line_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("Worker:\n  model_path: /m\n  ServiceArgs:\n    wrkers: 2\n")
    proc = run(ENTRY, "-f", str(path))
    assert proc.returncode == 1
    assert (
        f"error: Worker.ServiceArgs.wrkers (from {path}:4): unknown key 'wrkers'; did you "
        f"mean 'workers'?"
    ) in proc.stderr


def test_deployment_checked_against_graph(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("Workr:\n  model_path: /m\nWorker:\n  batch: many\n")
    proc = run(ENTRY, "-f", str(path))
    assert proc.returncode == 1
    assert "2 problems in the deployment file" in proc.stderr
    assert "section 'Workr' names no service of this graph; did you mean 'Worker'?" in proc.stderr
    assert f"Worker.batch (from {path}:4): expected int, got str 'many'" in proc.stderr


def test_usage_errors() -> None:
    proc = run("tests.svc_config_graph")
    assert proc.returncode == 2 and "is not MODULE:CLASS" in proc.stderr
    proc = run("tests.svc_config_graph:WORKER_SID")
    assert proc.returncode == 2 and "not a service class" in proc.stderr
    proc = run(ENTRY, "-f", "/nonexistent/deploy.yaml")
    assert proc.returncode == 1
    assert "cannot read the deployment file" in proc.stderr


def test_bad_bind_target_fails_before_anything(tmp_path: Path) -> None:
    path = tmp_path / "bind.yaml"
    path.write_text(
        'Worker:\n  model_path: /m\nbind:\n  "sid://example.org/2026/config-cache": '
        "tests.svc_config_impl:FastWorker\n"
    )
    proc = run(ENTRY, "-f", str(path))
    assert proc.returncode == 1
    assert (
        f"bind.sid://example.org/2026/config-cache (from {path}:4): bind target "
        f"'tests.svc_config_impl:FastWorker' does not declare "
        f"sid://example.org/2026/config-cache"
    ) in proc.stderr
