"""One importer for ``module:attr`` references, with one set of messages.

The CLI's targets, a worker's entry, the deployment's ``bind:`` targets, the registry's string
bindings and a swap's new class are all read here, so each failure reads the same wherever the
reference was written: not ``MODULE:CLASS``, cannot import the module, the module failed while
importing, no such attribute, not a (service) class.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Literal

from reverie.errors import ConfigError

__all__ = ["import_ref"]

#: What the reference must name: any object, a class, or a ``@service`` class.
Kind = Literal["any", "class", "service"]

_EXAMPLE = "for example 'examples.hello.graph:Frontend'"


def _error(message: str, ref: str, fix: str | None = None) -> ConfigError:
    err = ConfigError(message, fix=fix)
    err.key = ref  # kept as data; the message already names the reference
    return err


def import_ref(
    ref: str,
    *,
    kind: Kind = "any",
    entry: bool = False,
    sys_path: list[str] | None = None,
) -> Any:
    """Import ``"module:Attr.Path"``; raises ``ConfigError`` saying what is wrong and the fix.

    ``entry``: a bare ``MODULE`` names its ``entry`` attribute (``reverie serve MODULE``).
    ``sys_path``: directories put first on ``sys.path`` (the current directory for the CLI).
    An exception raised by the module itself is chained, so its traceback is kept.
    """
    from .suggest import services_hint, target_hint

    module_name, colon, attr = ref.partition(":")
    if (
        (not colon and not entry)
        or not module_name
        or module_name.endswith(".py")
        or (colon and not attr)
    ):
        raise _error(f"{ref!r} is not MODULE:CLASS ({_EXAMPLE}){target_hint(ref)}", ref)
    for p in reversed(sys_path or []):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise _error(
            f"cannot import module {module_name!r}: {exc}{target_hint(ref)}", ref
        ) from None
    except Exception as exc:  # the module itself failed: bad markup, a syntax error, ...
        raise _error(f"importing {module_name} failed: {type(exc).__name__}: {exc}", ref) from exc
    obj: Any = module
    if not attr:
        obj = getattr(module, "entry", None)
        if obj is None:
            raise _error(
                f"module {module_name!r} names no entry service",
                ref,
                fix=f"write {module_name}:ClassName, or set 'entry = ClassName' in the module",
            )
    for part in attr.split(".") if attr else ():
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _error(
                f"module {module_name!r} has no attribute {attr!r}" + services_hint(module, attr),
                ref,
            ) from None
    if kind == "service":
        from .declare.service import is_service

        if not is_service(obj):
            raise _error(
                f"{ref} is {obj!r}, not a service class (decorate it with @reverie.service)", ref
            )
    elif kind == "class" and not isinstance(obj, type):
        raise _error(f"{ref} is {obj!r}, not a class", ref)
    return obj
