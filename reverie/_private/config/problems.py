"""One way to report many problems at once: each check collects its problems, then raises the
one problem as it is, or one error listing them all (``3 problems in deploy.yaml:`` ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reverie.errors import ConfigError

__all__ = ["raise_problems"]


def raise_problems(
    problems: Sequence[ConfigError],
    summary: str,
    *,
    kind: type[ConfigError] = ConfigError,
    **attrs: Any,
) -> None:
    """Return when ``problems`` is empty; raise the only one; else raise one ``kind`` error:
    ``"{n} {summary}:"`` then a line per problem. ``attrs`` are set on that error
    (``file=``, ``service=``)."""
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    lines = "\n".join(f"  - {p}" for p in problems)
    err = kind(f"{len(problems)} {summary}:\n{lines}")
    for name, value in attrs.items():
        setattr(err, name, value)
    raise err
