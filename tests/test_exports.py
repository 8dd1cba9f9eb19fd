"""The public surface: every exported name resolves, and `import reverie` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import reverie


@pytest.mark.parametrize("name", reverie.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(reverie, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'reverie' has no attribute 'Hots'"):
        reverie.Hots  # noqa: B018


def test_dir_lists_the_public_names() -> None:
    assert dir(reverie) == sorted(reverie.__all__)


def test_import_reverie_loads_no_transport_or_server() -> None:
    code = (
        "import sys, json, reverie; "
        "print(json.dumps(sorted(m for m in ('httpx', 'uvicorn', 'nats', 'starlette', 'typer', "
        "'rich', 'yaml', 'pydantic', 'torch') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_error_hierarchy_is_exported_from_one_module() -> None:
    from reverie import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ReverieError), name
        assert cls.__module__ == "reverie.errors", name
