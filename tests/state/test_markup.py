"""Declared state markup: checked at import, shown in the blueprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from reverie import Blueprint, blueprint, service, state
from reverie.errors import MarkupError


@dataclass
class S:
    n: int = 0


@dataclass
class Other:
    x: str = ""


def test_blueprint_carries_state_name_version_and_schema() -> None:
    from examples.counter.service import Counter, Front

    bp = blueprint(Counter).to_dict()
    assert bp["state"]["name"] == "counter"
    assert bp["state"]["version"] == 1
    assert bp["state"]["type_name"] == "CounterState"
    assert bp["state"]["migrates"] is False
    assert "counts" in str(bp["state"]["type"])
    assert "state" not in blueprint(Front).to_dict()  # no declared state: the blueprint as before
    again = Blueprint.from_json(blueprint(Counter).to_json())
    assert again.state == blueprint(Counter).state  # round-trips through JSON


def test_default_name_is_the_type_and_migrate_is_shown() -> None:
    @service
    class A:
        @state.snapshot(version=3)
        def save(self) -> S:
            return S()

        @state.restore
        def load(self, s: S) -> None: ...

        @state.migrate
        def up(self, version: int, data: Any) -> S:
            return S()

    info = blueprint(A).to_dict()["state"]
    assert (info["name"], info["version"], info["migrates"]) == ("S", 3, True)


def test_snapshot_without_restore_fails_at_import() -> None:
    with pytest.raises(
        MarkupError,
        match=r"Half: declares @state.snapshot without "
        r"@state.restore",
    ):

        @service
        class Half:
            @state.snapshot
            def save(self) -> S:
                return S()


def test_untyped_snapshot_fails_at_import() -> None:
    with pytest.raises(MarkupError, match="needs a return annotation naming the state type"):

        @service
        class Untyped:
            @state.snapshot
            def save(self):
                return {}

            @state.restore
            def load(self, s: Any) -> None: ...


def test_restore_of_another_type_fails_at_import() -> None:
    with pytest.raises(
        MarkupError,
        match=r"@state.restore takes Other, but @state.snapshot "
        r"\(save\) returns S",
    ):

        @service
        class Mismatch:
            @state.snapshot
            def save(self) -> S:
                return S()

            @state.restore
            def load(self, s: Other) -> None: ...


def test_bad_version_and_two_snapshots_fail() -> None:
    with pytest.raises(MarkupError, match="a version is an integer >= 1"):
        state.snapshot(version=0)
    with pytest.raises(MarkupError, match=r"two methods are marked @state\.snapshot: a, b"):

        @service
        class Two:
            @state.snapshot
            def a(self) -> S:
                return S()

            @state.snapshot
            def b(self) -> S:
                return S()

            @state.restore
            def load(self, s: S) -> None: ...


def test_migrate_signature_checked() -> None:
    with pytest.raises(MarkupError, match=r"@state\.migrate hook takes two arguments"):

        @service
        class BadMigrate:
            @state.snapshot
            def save(self) -> S:
                return S()

            @state.restore
            def load(self, s: S) -> None: ...

            @state.migrate
            def up(self, data: Any) -> S:
                return S()
