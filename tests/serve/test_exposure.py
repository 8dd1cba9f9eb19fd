"""One HTTP surface in every mode: the deployment decides which services are public (default:
the entry only) and at which path; the plan (and so the start-up table) shows the real URL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.serve.conftest import reverie


def _plan(tmp_path: Path, yaml_text: str, *args: str) -> dict[str, object]:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(yaml_text)
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run",
                   "--json", *args)
    assert proc.returncode == 0, proc.stderr
    plan: dict[str, object] = json.loads(proc.stdout)
    return plan


def _urls(plan: dict[str, object]) -> dict[str, object]:
    return {s["name"]: s["url"] for s in plan["services"]}  # type: ignore[attr-defined]


BIND = "bind:\n  sid://reverie.dev/2026/examples/atom/feed: examples.atom.graph:FeedStore\n"


def test_only_the_entry_is_public_by_default_at_its_real_path(tmp_path: Path) -> None:
    plan = _plan(tmp_path, BIND + "AtomService:\n  ServiceArgs:\n    path: api/v1\n")
    assert _urls(plan) == {"AtomService": "http://127.0.0.1:8000/api/v1", "FeedStore": None}
    plan = _plan(tmp_path, BIND + "AtomService:\n  ServiceArgs:\n    path: api/v1\n",
                 "--processes")
    assert _urls(plan) == {"AtomService": "http://127.0.0.1:8000/api/v1", "FeedStore": None}


def test_expose_makes_a_dependency_public(tmp_path: Path) -> None:
    plan = _plan(tmp_path, BIND + "FeedStore:\n  ServiceArgs:\n    expose: true\n")
    assert _urls(plan) == {"AtomService": "http://127.0.0.1:8000/AtomService",
                           "FeedStore": "http://127.0.0.1:8000/FeedStore"}


def test_an_exposed_service_outside_the_http_process_is_refused(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(BIND + "FeedStore:\n  ServiceArgs:\n    expose: true\n")
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run",
                   "--processes")
    assert proc.returncode != 0
    assert "FeedStore is exposed over HTTP" in proc.stderr
    assert "only the entry's process (AtomService) serves HTTP" in proc.stderr


def test_expose_must_be_a_boolean(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(BIND + "FeedStore:\n  ServiceArgs:\n    expose: yes-please\n")
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run")
    assert proc.returncode != 0
    assert "expose must be true or false" in proc.stderr
