"""Captured state as a document: what ``GET @state`` answers, ``reverie state save`` writes, a
checkpoint stores and a restore reads.

A ``StateDocument`` names the service, the state's name and version, and holds the state as
plain data (``reverie.state/1``). ``read_document`` checks the shape; ``decode_state`` checks the
name and version against a service (migrating an older version through its hook) and validates
the data into the declared type, all before anything is restored, so a refused state changes
nothing.
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any

import msgspec

from reverie.errors import StateError, ValidationError

from ..declare.types import to_builtins

if TYPE_CHECKING:
    from ..declare.service import ServiceMeta
    from ..host.instance import Instance

__all__ = ["SCHEMA", "StateDocument", "decode_state", "read_document", "take_state"]

SCHEMA = "reverie.state/1"


class StateDocument(msgspec.Struct, kw_only=True):
    """One captured state: ``data`` is plain data of state ``name`` at ``version``."""

    schema: str = SCHEMA
    service: str
    name: str
    version: int
    data: Any
    sids: list[str] = []
    implementation: str = ""  # module:Class that took it
    taken_at: float = 0.0

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


def read_document(raw: bytes | str | dict[str, Any] | StateDocument) -> StateDocument:
    """A ``StateDocument`` from JSON text or plain data; ``StateError`` says what is wrong."""
    if isinstance(raw, StateDocument):
        doc = raw
    else:
        try:
            if isinstance(raw, dict):
                doc = msgspec.convert(raw, type=StateDocument)
            else:
                doc = msgspec.json.decode(raw, type=StateDocument)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StateError(
                f"not a state document: {exc}",
                fix="pass what GET @state, Host.capture() or 'reverie state save' produced",
            ) from None
    if doc.schema != SCHEMA:
        raise StateError(
            f"state document has schema {doc.schema!r}, but this Reverie reads {SCHEMA!r}",
            fix="capture it again with this version of Reverie",
        )
    return doc


async def take_state(inst: Instance) -> StateDocument:
    """Call the instance's snapshot method and wrap its result (no quiescing: see capture)."""
    meta = inst.meta
    sm = meta.state
    if sm is None:
        raise StateError(
            "declares no state, so there is nothing to capture",
            service=meta.name,
            fix="mark a snapshot/restore pair with @state.snapshot and @state.restore",
        )
    try:
        value = getattr(inst.obj, sm.snapshot)()
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        raise StateError(
            f"snapshot method {sm.snapshot} raised {type(exc).__name__}: {exc}", service=meta.name
        ) from exc
    try:
        value = sm.info.validate(value, strict=False)
        data = to_builtins(value)
    except (ValidationError, TypeError, ValueError) as exc:
        raise StateError(
            f"snapshot method {sm.snapshot} returned {type(value).__name__}, which is not a "
            f"valid {sm.info.name}: {exc}",
            service=meta.name,
        ) from None
    return StateDocument(
        service=meta.name,
        name=sm.name,
        version=sm.version,
        data=data,
        sids=list(meta.sids),
        implementation=meta.qualname,
        taken_at=time.time(),
    )


async def decode_state(meta: ServiceMeta, obj: Any, doc: StateDocument) -> Any:
    """The document's data as ``meta``'s state type, migrated when older. ``obj`` is the
    (configured) object whose migrate hook runs. Raises ``StateError``; restores nothing."""
    sm = meta.state
    if sm is None:
        raise StateError(
            f"declares no state, so it cannot take the state of {doc.service}",
            service=meta.name,
            fix="start it without a state, or add @state.snapshot/@state.restore",
        )
    if doc.name != sm.name:
        raise StateError(
            f"state {doc.name!r} (captured from {doc.service}) is not its state {sm.name!r}",
            service=meta.name,
            fix="restore a capture of this service, or give both implementations the same "
            "@state.snapshot(name=...)",
        )
    data = doc.data
    if doc.version != sm.version:
        if doc.version > sm.version or sm.migrate is None:
            newer = doc.version > sm.version
            raise StateError(
                f"state {sm.name!r} version {doc.version} is unknown here: this "
                f"implementation reads version {sm.version}"
                + ("" if newer else " and has no @state.migrate hook"),
                service=meta.name,
                fix="run the implementation that wrote it"
                if newer
                else "add a @state.migrate hook that upgrades older versions",
            )
        try:
            data = getattr(obj, sm.migrate)(doc.version, data)
            if inspect.isawaitable(data):
                data = await data
        except Exception as exc:
            raise StateError(
                f"migrate hook {sm.migrate} failed on version {doc.version}: "
                f"{type(exc).__name__}: {exc}",
                service=meta.name,
            ) from exc
    try:
        return sm.info.validate(data, strict=True, loc=("state",))
    except ValidationError as exc:
        raise StateError(
            f"state {sm.name!r} version {doc.version} does not fit {sm.info.name}: {exc}",
            service=meta.name,
        ) from None


async def apply_state(inst: Instance, value: Any) -> None:
    """Hand a decoded state to the instance's restore method."""
    sm = inst.meta.state
    assert sm is not None
    try:
        result = getattr(inst.obj, sm.restore)(value)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        raise StateError(
            f"restore method {sm.restore} raised {type(exc).__name__}: {exc}",
            service=inst.meta.name,
        ) from exc
