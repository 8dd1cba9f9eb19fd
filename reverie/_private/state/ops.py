"""Host operations on state: capture an instance between requests, restore one as it starts,
and keep the state across a restart in place (``PUT @config``).

The host calls ``restore_pending`` after configuring and linking an instance and before its
``on_start`` hooks, so ``on_start`` sees the restored state. The state comes from
``inst.restore_from`` (``start_instance(state=...)``, a restart, a swap) or else from the host's
``state_loader`` (the last checkpoint).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from reverie.errors import StateError

from ..host.lifecycle import State
from .document import StateDocument, apply_state, decode_state, take_state
from .gate import DRAIN_TIMEOUT, drained, quiesced

if TYPE_CHECKING:
    from ..host.instance import Instance

__all__ = ["capture", "restore_pending"]

log = logging.getLogger("reverie.state")


async def capture(inst: Instance, drain_timeout: float = DRAIN_TIMEOUT) -> StateDocument:
    """The instance's state, taken between requests: new calls wait while the calls in flight
    finish (bounded by ``drain_timeout``), then the snapshot method runs and the calls go on.

    A stopping instance (graceful shutdown, a restart) takes no new calls any more: its
    snapshot is taken once the calls in flight have finished.
    """
    if inst.meta.state is None:
        return await take_state(inst)  # raises the "declares no state" StateError
    if inst.state is State.RUNNING:
        async with quiesced(inst, drain_timeout):
            return await take_state(inst)
    if inst.state is State.STOPPING:
        await drained(inst, drain_timeout)
        return await take_state(inst)
    raise StateError(
        f"{inst.path!r} is {inst.state}; only a running instance can be captured",
        service=inst.meta.name,
    )


async def restore_pending(inst: Instance) -> None:
    """Restore the state the instance should start from, if any (see the module docstring)."""
    if inst.meta.state is None:
        if inst.restore_from is not None:
            given, inst.restore_from = inst.restore_from, None
            await decode_state(inst.meta, inst.obj, given)  # raises: declares no state
        return
    doc = inst.restore_from
    origin = "the given state"
    if doc is None:
        loader = getattr(inst.host, "state_loader", None)
        if loader is None:
            return
        loaded: StateDocument | None = await loader(inst)
        if loaded is None:
            return
        doc = loaded
        origin = "its last checkpoint"
    inst.restore_from = None
    try:
        value = await decode_state(inst.meta, inst.obj, doc)
    except StateError as exc:
        if origin == "the given state":
            raise
        key = getattr(getattr(inst.host, "checkpointer", None), "key", lambda i: "?")(inst)
        by = f" by {doc.implementation}" if doc.implementation else ""
        raise StateError(
            f"its last checkpoint (key {key}, written{by}) cannot be restored: "
            f"{exc.message.removeprefix(inst.meta.name + ': ')}",
            service=inst.meta.name,
            fix="start the implementation that wrote it (after a live swap, bind the SID to the "
            "new implementation in the deployment file), or remove that checkpoint to "
            "start empty",
        ) from exc
    await apply_state(inst, value)
    age = f", taken {time.time() - doc.taken_at:.1f} s ago" if doc.taken_at else ""
    log.warning(
        "%s (%s) restored from %s (state %s version %d%s)",
        inst.path,
        inst.meta.name,
        origin,
        doc.name,
        doc.version,
        age,
    )
