"""One HTTP surface in every mode: the deployment decides which services are public (default:
the entry only) and at which path; the plan (and so the start-up table) shows the real URL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.serve.conftest import reverie


def _plan(tmp_path: Path, yaml_text: str, *args: str) -> dict[str, object]:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(yaml_text)
    proc = reverie(
        "serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run", "--json", *args
    )
    assert proc.returncode == 0, proc.stderr
    plan: dict[str, object] = json.loads(proc.stdout)
    return plan


def _urls(plan: dict[str, object]) -> dict[str, object]:
    return {s["name"]: s["url"] for s in plan["services"]}  # type: ignore[attr-defined]


BIND = "bind:\n  sid://reverie.dev/2026/examples/atom/feed: examples.atom.graph:FeedStore\n"


def test_only_the_entry_is_public_by_default_at_its_real_path(tmp_path: Path) -> None:
    plan = _plan(tmp_path, BIND + "AtomService:\n  ServiceArgs:\n    path: api/v1\n")
    assert _urls(plan) == {"AtomService": "http://127.0.0.1:8000/api/v1", "FeedStore": None}
    plan = _plan(tmp_path, BIND + "AtomService:\n  ServiceArgs:\n    path: api/v1\n", "--processes")
    assert _urls(plan) == {"AtomService": "http://127.0.0.1:8000/api/v1", "FeedStore": None}


def test_expose_makes_a_dependency_public(tmp_path: Path) -> None:
    plan = _plan(tmp_path, BIND + "FeedStore:\n  ServiceArgs:\n    expose: true\n")
    assert _urls(plan) == {
        "AtomService": "http://127.0.0.1:8000/AtomService",
        "FeedStore": "http://127.0.0.1:8000/FeedStore",
    }


def test_an_exposed_service_in_another_process_keeps_its_url(tmp_path: Path) -> None:
    """Under --processes the HTTP process answers for it (carried over the runtime)."""
    yaml_text = BIND + "FeedStore:\n  ServiceArgs:\n    expose: true\n"
    embedded = _plan(tmp_path, yaml_text)
    many = _plan(tmp_path, yaml_text, "--processes")
    assert (
        _urls(many)
        == _urls(embedded)
        == {
            "AtomService": "http://127.0.0.1:8000/AtomService",
            "FeedStore": "http://127.0.0.1:8000/FeedStore",
        }
    )
    procs = {p["name"]: p["services"] for p in many["processes"]}  # type: ignore[attr-defined]
    assert procs["FeedStore"] == ["FeedStore"]


def test_expose_must_be_a_boolean(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(BIND + "FeedStore:\n  ServiceArgs:\n    expose: yes-please\n")
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run")
    assert proc.returncode != 0
    assert "expose must be true or false" in proc.stderr
