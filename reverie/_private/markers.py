"""The two markers a default can hold: ``NOT_GIVEN`` and ``REQUIRED``.

``NOT_GIVEN`` means "the caller passed nothing" (``None`` may be a value); ``REQUIRED`` marks a
config key without a default, which the deployment must set. Each is a singleton that survives
copy and pickle as itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["NOT_GIVEN", "REQUIRED"]


class _Marker:
    """A named singleton: one instance per name, pickled as the module attribute of that name."""

    __slots__ = ("_name",)
    _name: str
    _made: ClassVar[dict[str, _Marker]] = {}

    def __new__(cls, name: str) -> _Marker:
        if name not in cls._made:
            marker = super().__new__(cls)
            marker._name = name
            cls._made[name] = marker
        return cls._made[name]

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


NOT_GIVEN: Any = _Marker("NOT_GIVEN")
REQUIRED: Any = _Marker("REQUIRED")
