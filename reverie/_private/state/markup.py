"""Declared state: ``@state.snapshot(version=N)``, ``@state.restore`` and ``@state.migrate``.

The decorators only record marks; ``@service`` calls ``state_meta`` to check them when the class
is defined, so a missing half, an untyped snapshot or a restore of another type fails at import.
The state type is typed, serializable data (a dataclass, msgspec Struct, pydantic model,
TypedDict or builtin) and its ``version`` is an integer; a ``migrate`` hook turns an older
version's plain data into the current type.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from reverie.errors import MarkupError

from ..declare.handlers import _Pending, _pending
from ..declare.signatures import type_hints
from ..declare.types import TypeInfo, UnsupportedTypeError, describe, type_info

__all__ = ["StateMeta", "migrate", "restore", "snapshot", "state_meta"]

F = TypeVar("F", bound=Callable[..., Any])

MARK = "state"


@overload
def snapshot(func: F, /) -> F: ...


@overload
def snapshot(
    func: None = None, /, *, version: int = 1, name: str | None = None
) -> Callable[[F], F]: ...


def snapshot(func: F | None = None, /, *, version: int = 1, name: str | None = None) -> Any:
    """Mark the method that returns the instance's state (``def snapshot(self) -> T``).

    ``version`` (an integer >= 1) is stored with every capture; bump it when ``T`` changes
    incompatibly and add a ``@state.migrate`` hook. ``name`` is the state's identity in captured
    documents (default: the type's name); two implementations of a SID that share a state give
    it the same name.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MarkupError(f"@state.snapshot(version={version!r}): a version is an integer >= 1")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise MarkupError(f"@state.snapshot(name={name!r}): a state name is a non-empty string")

    def mark(f: F) -> F:
        _method(f, "snapshot")
        _pending(f).append(_Pending(MARK, {"role": "snapshot", "version": version, "name": name}))
        return f

    return mark(func) if func is not None else mark


def restore(func: F) -> F:
    """Mark the method that takes a state back (``def restore(self, state: T) -> None``)."""
    _method(func, "restore")
    _pending(func).append(_Pending(MARK, {"role": "restore"}))
    return func


def migrate(func: F) -> F:
    """Mark the hook that upgrades an older capture:
    ``def migrate(self, version: int, data: Any) -> T`` gets the old version number and its
    plain data (dicts, lists, scalars) and returns the current state type."""
    _method(func, "migrate")
    _pending(func).append(_Pending(MARK, {"role": "migrate"}))
    return func


def _method(func: Any, role: str) -> None:
    if not callable(func) or isinstance(func, (staticmethod, classmethod, type)):
        raise MarkupError(f"@state.{role} must decorate a plain method, not {func!r}")


@dataclass
class StateMeta:
    """What a service's state markup says; ``info`` validates and describes the type."""

    type: Any
    name: str
    version: int
    snapshot: str
    restore: str
    migrate: str | None = None
    info: TypeInfo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.info = type_info(self.type)


def state_meta(
    service: str, cls: type, marks: list[tuple[str, Any, dict[str, Any]]]
) -> StateMeta | None:
    """Check a class's state marks and build its ``StateMeta`` (``None`` when it has none)."""
    if not marks:
        return None
    by_role = _by_role(service, marks)
    snap_attr, snap_fn, snap_opts = by_role["snapshot"][0]
    rest_attr, rest_fn, _ = by_role["restore"][0]
    tp, info = _snapshot_type(service, snap_attr, snap_fn)
    _check_restore(service, rest_attr, rest_fn, snap_attr, tp, info)
    mig_attr = None
    if "migrate" in by_role:
        mig_attr, mig_fn, _ = by_role["migrate"][0]
        if len(_params(mig_fn)) != 2:
            raise MarkupError(
                "@state.migrate hook takes two arguments: the old version (int) and its plain data",
                service=service,
                member=mig_attr,
                fix=f"write 'def {mig_attr}(self, version: int, data: Any) -> {info.name}'",
            )
    return StateMeta(
        type=tp,
        name=snap_opts["name"] or info.name,
        version=snap_opts["version"],
        snapshot=snap_attr,
        restore=rest_attr,
        migrate=mig_attr,
    )


_Mark = tuple[str, Any, dict[str, Any]]


def _by_role(service: str, marks: list[_Mark]) -> dict[str, list[_Mark]]:
    """The marks by role; one method a role, and both snapshot and restore."""
    by_role: dict[str, list[_Mark]] = {}
    for attr, func, options in marks:
        by_role.setdefault(options["role"], []).append((attr, func, options))
    for role, found in by_role.items():
        if len(found) > 1:
            raise MarkupError(
                f"two methods are marked @state.{role}: {', '.join(a for a, _, _ in found)}",
                service=service,
                fix="keep one",
            )
    if "snapshot" not in by_role or "restore" not in by_role:
        have, missing = (
            ("snapshot", "restore") if "snapshot" in by_role else ("restore", "snapshot")
        )
        if "snapshot" not in by_role and "restore" not in by_role:
            have, missing = "migrate", "snapshot and restore"
        raise MarkupError(
            f"declares @state.{have} without @state.{missing}; state is a snapshot/restore pair",
            service=service,
            fix="add 'def snapshot(self) -> T' marked @state.snapshot and "
            "'def restore(self, state: T) -> None' marked @state.restore",
        )
    return by_role


def _snapshot_type(service: str, snap_attr: str, snap_fn: Any) -> tuple[Any, TypeInfo]:
    """The state type: what the snapshot method (no arguments) is annotated to return."""
    hints = type_hints(service, snap_attr, snap_fn, "state type")
    params = _params(snap_fn)
    if params:
        raise MarkupError(
            f"@state.snapshot method takes no arguments besides self, but has {', '.join(params)}",
            service=service,
            member=snap_attr,
        )
    tp = hints.get("return", inspect.Parameter.empty)
    if tp is inspect.Parameter.empty or tp is Any or tp is None or tp is type(None):
        raise MarkupError(
            "@state.snapshot needs a return annotation naming the state type",
            service=service,
            member=snap_attr,
            fix="annotate it, e.g. 'def snapshot(self) -> CounterState' with a dataclass, "
            "msgspec Struct or pydantic model",
        )
    try:
        info = type_info(tp)
    except UnsupportedTypeError as exc:
        raise MarkupError(f"state type: {exc}", service=service, member=snap_attr) from None
    return tp, info


def _check_restore(
    service: str, rest_attr: str, rest_fn: Any, snap_attr: str, tp: Any, info: TypeInfo
) -> None:
    """The restore method takes one argument, of the snapshot's type when annotated."""
    rparams = _params(rest_fn)
    if len(rparams) != 1:
        raise MarkupError(
            f"@state.restore method takes exactly one argument (the state), but has {len(rparams)}",
            service=service,
            member=rest_attr,
            fix=f"write 'def {rest_attr}(self, state: {info.name}) -> None'",
        )
    rtp = type_hints(service, rest_attr, rest_fn, "state type").get(
        rparams[0], inspect.Parameter.empty
    )
    if rtp is not inspect.Parameter.empty and rtp is not Any and rtp != tp:
        raise MarkupError(
            f"@state.restore takes {describe(rtp)}, but @state.snapshot ({snap_attr}) returns "
            f"{info.name}; a state must round-trip",
            service=service,
            member=rest_attr,
            fix=f"annotate the parameter as {info.name}",
        )


def _params(func: Any) -> list[str]:
    sig = inspect.signature(func)
    names = [
        p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return names[1:]  # without self
