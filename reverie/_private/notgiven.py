"""``NOT_GIVEN``: the one default that means "the caller passed nothing" (``None`` may be a value).

``REQUIRED`` (a config key without a default) is a different statement and stays its own marker.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NOT_GIVEN"]


class _NotGiven:
    """A singleton that survives copy and pickle as itself."""

    _inst: _NotGiven | None = None

    def __new__(cls) -> _NotGiven:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()
