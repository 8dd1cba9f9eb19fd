"""Helpers shared by the commands: loading ``MODULE:CLASS`` targets and failing clearly."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, NoReturn

import typer

from reverie.errors import ReverieError

from ..suggest import services_hint, target_hint

__all__ = ["fail", "load_target"]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_target(spec: str) -> Any:
    """Import ``MODULE:ATTR`` (the current directory is importable, as with ``python -m``)."""
    if ":" not in spec or spec.partition(":")[0].endswith(".py"):
        fail(
            f"{spec!r} is not MODULE:CLASS (for example 'examples.hello.graph:Frontend')"
            + target_hint(spec)
        )
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ReverieError as exc:
        fail(f"importing {module_name}: {exc}")
    except ModuleNotFoundError as exc:
        fail(f"cannot import module {module_name!r}: {exc}")
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            fail(f"module {module_name!r} has no attribute {attr!r}" + services_hint(module, attr))
    return obj

