"""`reverie blueprint` and `reverie graph`, run as real subprocesses from the repository root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reverie import Blueprint, blueprint
from tests import svc_declare as svc

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "reverie.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- reverie blueprint ------------------------------------------------------------------------


def test_blueprint_prints_the_json_blueprint() -> None:
    proc = cli("blueprint", "tests.svc_declare:Worker")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith('{\n  "schema": "reverie.blueprint/1",')
    printed = Blueprint.from_json(proc.stdout)
    # Same contract as derived in-process (the implementation path is the same module name).
    assert printed == blueprint(svc.Worker)
    assert proc.stdout.rstrip("\n") == blueprint(svc.Worker).to_json()


def test_blueprint_on_one_line() -> None:
    proc = cli("blueprint", "tests.svc_declare:Cache", "--indent", "0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    assert json.loads(proc.stdout)["sids"] == [svc.CACHE_SID]


def test_blueprint_openapi() -> None:
    proc = cli("blueprint", "tests.svc_declare:Worker", "--openapi")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Worker", "version": "2.1"}
    assert "/Worker/generate" in doc["paths"]
    assert "/Worker/items/{item_id}" in doc["paths"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.svc_declare", "error: 'tests.svc_declare' is not MODULE:CLASS (for example"),
        (
            "tests.no_such_module:X",
            "error: cannot import module 'tests.no_such_module': No module named "
            "'tests.no_such_module'",
        ),
        ("tests.svc_declare:Nope", "error: module 'tests.svc_declare' has no attribute 'Nope'"),
        (
            "tests.svc_declare:NotAService",
            "error: tests.svc_declare:NotAService is <class 'tests.svc_declare.NotAService'>, not"
            " a service class (decorate it with @reverie.service)",
        ),
        ("tests.svc_declare:VALUE", "error: tests.svc_declare:VALUE is 42, not a service class"),
        (
            "tests.svc_broken_import:X",
            "error: importing tests.svc_broken_import failed: RuntimeError: svc_broken_import"
            " fails on purpose",
        ),
    ],
)
def test_blueprint_bad_targets(target: str, message: str) -> None:
    proc = cli("blueprint", target)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(message)
    assert "Traceback" not in proc.stderr


def test_blueprint_without_a_target_shows_usage() -> None:
    proc = cli("blueprint")
    assert proc.returncode == 2
    assert "missing argument 'target'" in proc.stderr.lower()


# -- reverie graph ----------------------------------------------------------------------------


def test_graph_text_tree_resolves_sids_from_the_entry_module() -> None:
    proc = cli("graph", "tests.svc_declare:Frontend")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Frontend (tests.svc_declare:Frontend)"
    # a URI config key names a service too: it is an edge of the graph
    assert lines[2] == (
        "│   └── feed.uri -> URI Worker.feed.uri (optional; config key; default local://feed)"
    )
    assert lines[3].startswith("├── worker_v2 -> Worker (tests.svc_declare:Worker)")
    assert lines[5] == f"└── missing -> {svc.MISSING_SID} (optional; not registered)"


def test_graph_mermaid() -> None:
    proc = cli("graph", "tests.svc_declare:CycleA", "--mermaid")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "graph TD",
        '    n0["CycleA"]',
        '    n1["CycleB"]',
        "    n0 -->|other| n1",
        "    n1 -->|back| n0",
    ]


def test_graph_with_discovery_warns_about_broken_files() -> None:
    proc = cli("graph", "disc_beta:Beta", "--discover", "tests/discovery_fixture")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Beta (disc_beta:Beta) [sid://reverie.test/disc/beta]",
        "└── alpha -> Alpha (disc_alpha:Alpha) [sid://reverie.test/disc/alpha]",
    ]
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: ") and warnings[0].endswith(
        "disc_broken.py failed to import (RuntimeError: disc_broken fails on purpose); its "
        "services are left out"
    )
    assert "No module named 'a_module_that_does_not_exist_anywhere'" in warnings[1]


def test_graph_with_a_missing_discovery_directory() -> None:
    proc = cli("graph", "tests.svc_declare:Frontend", "--discover", "tests/nope")
    assert proc.returncode == 2
    assert proc.stderr == "error: --discover tests/nope: no such directory\n"


def test_graph_of_a_plain_class() -> None:
    proc = cli("graph", "tests.svc_declare:NotAService")
    assert proc.returncode == 2
    assert "not a service class (decorate it with @reverie.service)" in proc.stderr
