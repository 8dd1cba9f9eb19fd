"""Dependencies: ``worker = depends(Worker)`` or ``depends("sid://...")`` on a service class.

A descriptor that only records data; the host writes the linked client into each instance's
``__dict__``, which takes precedence over it.
"""

from __future__ import annotations

from typing import Any

from reverie.errors import MarkupError

__all__ = ["SID_SCHEME", "Dependency", "depends"]

SID_SCHEME = "sid://"


class Dependency:
    """``worker = depends(Worker)``: becomes a client when the host links the instance."""

    __slots__ = ("name", "optional", "owner", "target")

    def __init__(self, target: type | str, optional: bool) -> None:
        self.target = target
        self.optional = optional
        self.name = ""
        self.owner = ""

    @property
    def target_name(self) -> str:
        """A SID, or the class name of a class target."""
        if isinstance(self.target, str):
            return self.target
        return self.target.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner.__name__

    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        raise AttributeError(
            f"dependency {self.owner}.{self.name} -> {self.target_name} is not linked yet; "
            f"clients exist once the host links the instance (from on_start on), or use "
            f"reverie.testing.run_graph in tests"
        )

    def __repr__(self) -> str:
        return f"depends({self.target_name!r}{', optional=True' if self.optional else ''})"


def depends(target: type | str, *, optional: bool = False) -> Any:
    """Declare a dependency on a service class or a SID."""
    if isinstance(target, str):
        if not target.startswith(SID_SCHEME):
            raise MarkupError(
                f"depends({target!r}): a string target must be a SID starting with 'sid://'",
                fix="pass the service class, or its SID such as 'sid://example.org/2026/worker'",
            )
    elif not isinstance(target, type):
        raise MarkupError(
            f"depends({target!r}): the target must be a service class or a SID string"
        )
    return Dependency(target, optional)
