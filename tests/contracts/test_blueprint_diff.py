"""``reverie blueprint diff`` on pairs of real blueprints (JSON files written by ``reverie
blueprint`` and MODULE:CLASS), as real subprocesses; the classification in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reverie import blueprint, depends, endpoint, service
from reverie._private.contract.blueprint_diff import BREAKING, COMPATIBLE, diff_blueprints
from tests.contracts import notes_v1, notes_v2, notes_v3

ROOT = Path(__file__).resolve().parents[2]
V1, V2, V3, V3_NEW_SID = (
    "tests.contracts.notes_v1:Notes",
    "tests.contracts.notes_v2:Notes",
    "tests.contracts.notes_v3:Notes",
    "tests.contracts.notes_v3:NotesV2",
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reverie.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def written(tmp: Path, target: str, name: str) -> str:
    """The blueprint JSON file that 'reverie blueprint TARGET' writes (what CI would keep)."""
    proc = cli("blueprint", target)
    assert proc.returncode == 0, proc.stderr
    path = tmp / name
    path.write_text(proc.stdout)
    return str(path)


def test_compatible_changes_pass(tmp_path: Path) -> None:
    old = written(tmp_path, V1, "old.json")
    proc = cli("blueprint", "diff", old, V2)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == [
        "compatible config.cache_size: config key added with a default",
        "compatible endpoints.count: endpoint added",
        "compatible endpoints.add.request.pinned: field added with a default",
        "compatible endpoints.export.request: type widened: 'csv' | 'json' | 'xml' -> "
        "'csv' | 'json' | 'xml' | 'yaml'",
        "compatible endpoints.get.response.author: field added",
        "compatible endpoints.search.request.tag: parameter added with a default",
        "compatible features.DELETE:notes/{id}: access widened: internal -> public",
        "compatible features.GET:notes/{id}.response.author: field added",
        "8 change(s), 0 breaking",
    ]


def test_breaking_changes_under_the_same_sid_fail(tmp_path: Path) -> None:
    old, new = written(tmp_path, V1, "old.json"), written(tmp_path, V3, "new.json")
    proc = cli("blueprint", "diff", old, new)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    for line in (
        "BREAKING   config.store_url: required config key added (existing deployments do not "
        "set it)",
        "BREAKING   endpoints.purge: endpoint removed",
        "BREAKING   endpoints.add.request.owner: required field added (old callers do not send it)",
        "BREAKING   endpoints.export.request: type narrowed: 'csv' | 'json' | 'xml' -> "
        "'csv' | 'json'",
        "BREAKING   endpoints.get.request: type changed: integer -> string",
        "BREAKING   endpoints.get.response.tags: field removed (callers reading it)",
        "BREAKING   features.DELETE:notes/{id}: feature removed",
        "compatible endpoints.tagged: endpoint added",
        "compatible endpoints.search.request.owner: parameter added with a default",
    ):
        assert line in out.splitlines(), out
    assert out.splitlines()[-1] == (
        "11 change(s), 8 breaking; sid://example.org/2026/notes keeps its SIDs and version: give "
        "it a new version (@service(version=...)) or a new SID"
    )


def test_breaking_changes_under_a_new_sid_and_version_are_allowed() -> None:
    proc = cli("blueprint", "diff", V1, V3_NEW_SID, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["versioned"] is True and doc["needs_new_version"] is False
    kinds = {(c["where"], c["kind"]) for c in doc["changes"]}
    assert ("sids", BREAKING) in kinds  # the old SID is dropped: listed, but versioned
    assert ("version", COMPATIBLE) in kinds


def test_no_changes() -> None:
    proc = cli("blueprint", "diff", V1, V1)
    assert proc.returncode == 0 and proc.stdout == "no changes\n"


def test_bad_sides_are_named(tmp_path: Path) -> None:
    proc = cli("blueprint", "diff", V1)
    assert proc.returncode == 2
    assert "usage: reverie blueprint diff OLD NEW" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    proc = cli("blueprint", "diff", str(bad), V1)
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {bad}: ")
    proc = cli("blueprint", "diff", "nothing-here", V1)
    assert proc.stderr == "error: 'nothing-here' is neither a file nor MODULE:CLASS\n"


def test_streaming_and_dependency_changes() -> None:
    @service(sid="sid://example.org/2026/gen", name="Gen")
    class GenV1:
        @endpoint()
        async def run(self, prompt: str) -> str:
            return prompt

    @service(sid="sid://example.org/2026/gen", name="Gen")
    class GenV2:
        store = depends(notes_v1.Notes)

        @endpoint()
        async def run(self, prompt: str) -> AsyncIterator[str]:
            yield prompt

    d = diff_blueprints(blueprint(GenV1), blueprint(GenV2))
    assert [str(c) for c in d.changes] == [
        "BREAKING   endpoints.run: now streams",
        "BREAKING   dependencies.store: new required dependency on "
        "tests.contracts.notes_v1:Notes (deployments must provide it)",
    ]
    assert d.needs_new_version


@pytest.mark.parametrize("module", [notes_v1, notes_v2, notes_v3])
def test_each_version_is_a_real_service(module: object) -> None:
    bp = blueprint(module.Notes)  # type: ignore[attr-defined]
    assert bp.sids == ["sid://example.org/2026/notes"]
