"""The gate in front of an instance: calls in flight are counted, and while a capture, swap or
migration holds it, new calls wait (bounded) instead of failing.

Entry points (the in-process transport, the HTTP app, the NATS handler) only test
``inst.accepting`` on the hot path and count their calls (``inst.inflight`` for HTTP,
``inst.active`` for in-process and NATS); everything here runs when the
instance is not accepting. ``quiesced`` closes the gate, waits for the calls in flight to finish
(bounded), and opens it again: a snapshot taken inside sees the state between requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from reverie.errors import StateError, UnavailableError

from ..host.lifecycle import State

if TYPE_CHECKING:
    from ..host.instance import Instance

__all__ = ["HOLD_TIMEOUT", "admit", "drained", "quiesced"]

#: How long a new call waits while the instance is held before it fails with 503 (seconds).
HOLD_TIMEOUT = 10.0
#: How long a capture, swap or migration waits for calls in flight to finish (seconds).
DRAIN_TIMEOUT = 10.0


async def admit(inst: Instance, endpoint: str | None = None) -> bool:
    """For a call to an instance that is not accepting: wait while it is held, then say where
    the call goes. True: to the instance (its handlers may be new); False: through
    ``inst.forward`` (it moved). Raises ``UnavailableError`` otherwise."""
    hold = inst.hold
    if hold is not None:
        try:
            await asyncio.wait_for(asyncio.shield(hold), hold_timeout(inst))
        except TimeoutError:
            raise UnavailableError(
                f"instance {inst.path!r} held new calls for {hold_timeout(inst):g} s while it "
                f"was captured, swapped or migrated; retry",
                service=inst.meta.name,
                endpoint=endpoint,
            ) from None
    if inst.accepting:
        return True
    if inst.forward is not None:
        return False
    raise UnavailableError(
        f"instance {inst.path!r} is {inst.state}, not running",
        service=inst.meta.name,
        endpoint=endpoint,
    )


def hold_timeout(inst: Instance) -> float:
    return float(getattr(inst.host, "hold_timeout", HOLD_TIMEOUT))


async def drained(inst: Instance, timeout: float = DRAIN_TIMEOUT) -> None:
    """Wait until no call is in flight on ``inst``; ``StateError`` after ``timeout`` seconds."""
    if inst.inflight + inst.active <= 0:
        return
    deadline = time.monotonic() + timeout
    delay = 0.0002
    while inst.inflight + inst.active > 0:
        if time.monotonic() >= deadline:
            raise StateError(
                f"{inst.inflight + inst.active} call(s) still in flight on {inst.path!r} "
                f"after {timeout:g} s",
                service=inst.meta.name,
                fix="retry when the long calls (streams) have finished, or raise the drain timeout",
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.005)


@asynccontextmanager
async def quiesced(inst: Instance, drain_timeout: float = DRAIN_TIMEOUT) -> AsyncIterator[None]:
    """Hold new calls and wait for the ones in flight; release them on exit (to whatever the
    instance is then: the same handlers, new ones after a swap, or ``forward``)."""
    if inst.hold is not None:
        raise StateError(
            f"{inst.path!r} is already being captured, swapped or migrated",
            service=inst.meta.name,
            fix="retry when that has finished",
        )
    if inst.state is not State.RUNNING:
        raise StateError(f"{inst.path!r} is {inst.state}, not running", service=inst.meta.name)
    hold: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inst.hold = hold
    inst.accepting = False
    try:
        await drained(inst, drain_timeout)
        yield
    finally:
        # A moved instance (``forward`` set) takes no calls of its own any more.
        inst.accepting = inst.state is State.RUNNING and inst.forward is None
        inst.hold = None
        hold.set_result(None)
