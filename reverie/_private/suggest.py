"""``did you mean`` hints for names that almost match: one helper for every message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = ["did_you_mean", "services_hint", "target_hint"]


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option (case-insensitive), or ``""``."""
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def target_hint(spec: str) -> str:
    """``"; did you mean notes:Notes?"`` for ``notes.Notes``, ``notes.py:Notes``, ``notes.py``."""
    module_name, colon, attr = spec.partition(":")
    if module_name.endswith(".py"):
        module_name = module_name[:-3].replace("/", ".").replace("\\", ".").strip(".")
        return f"; did you mean {module_name}:{attr or 'CLASS'}?"
    if not colon and "." in spec:
        mod, _, cls = spec.rpartition(".")
        return f"; did you mean {mod}:{cls}?"
    return ""


def services_hint(module: Any, attr: str) -> str:
    """``"; did you mean 'Notes'?; services in notes: Notes, Store"`` for a mistyped class."""
    from .declare.service import is_service

    names = sorted(n for n, v in vars(module).items() if is_service(v))
    if not names:
        return f"; {module.__name__} defines no @service class"
    return f"{did_you_mean(attr, names)}; services in {module.__name__}: {', '.join(names)}"
