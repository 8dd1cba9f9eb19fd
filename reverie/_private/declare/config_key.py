"""Config keys: ``name: T = config(default, "description")`` on a service class.

A descriptor that only records data; the host writes the resolved value into each instance's
``__dict__``, which takes precedence over it.
"""

from __future__ import annotations

from typing import Any, overload

from reverie.errors import MarkupError

from ..markers import REQUIRED
from .types import TypeInfo, type_info

__all__ = ["REQUIRED", "ConfigKey", "config"]


class ConfigKey:
    """A typed config key declared as ``name: T = config(default, "description")``.

    Until the host configures the instance, reading the attribute gives the default (or raises
    for a required key); the host writes the resolved value into the instance's ``__dict__``.
    """

    __slots__ = ("annotation", "attr", "default", "description", "name", "owner", "secret", "uri")

    def __init__(self, default: Any, description: str, secret: bool, name: str | None) -> None:
        self.default = default
        self.description = description
        self.secret = secret
        self.name = name or ""
        self.attr = ""
        self.owner = ""
        self.annotation: Any = Any
        self.uri = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def info(self) -> TypeInfo:
        return type_info(self.annotation)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name
        self.name = self.name or name
        self.owner = owner.__name__

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> ConfigKey: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Any: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        if self.default is REQUIRED:
            raise AttributeError(
                f"config key {self.owner}.{self.name} is required and this instance has not been "
                f"configured; run it in a host (or reverie.testing.run_graph) or set it explicitly"
            )
        return self.default

    def __repr__(self) -> str:
        return f"ConfigKey({self.owner}.{self.name}: {type_info(self.annotation).name})"


def config(
    default: Any = REQUIRED, description: str = "", *, secret: bool = False, name: str | None = None
) -> Any:
    """Declare a config key; its type comes from the class annotation.

    ``name`` sets the key's external name when it is not a Python identifier (``"feed.uri"``).
    """
    if name is not None and (not isinstance(name, str) or not name or " " in name):
        raise MarkupError(f"config(name={name!r}): a key name is a non-empty string without spaces")
    return ConfigKey(default, description, secret, name)
