"""The runtime's two call tables: the calls this process makes (by reply key) and the calls it
serves (by the caller's key). Each is owned here; other modules use the narrow methods below."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .calls import OutgoingCall
    from .server import ServerCall

__all__ = ["CallTable", "ServingTable"]

log = logging.getLogger("reverie.runtime")


class CallTable:
    """Outgoing calls in flight, keyed by reply subject (NATS) or call id (direct plane), and
    how many each worker has (what ``least_inflight`` routes by)."""

    def __init__(self) -> None:
        self._calls: dict[Any, OutgoingCall] = {}
        self._inflight: defaultdict[str, int] = defaultdict(int)
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        """A number no other call of this process has (call ids, reply subject suffixes)."""
        return next(self._ids)

    @property
    def inflight(self) -> Mapping[str, int]:
        return self._inflight

    def add(self, key: Any, call: OutgoingCall) -> None:
        self._calls[key] = call
        self._inflight[call.iid] += 1

    def remove(self, key: Any) -> bool:
        """Forget a call; False when it was already gone."""
        call = self._calls.pop(key, None)
        if call is None:
            return False
        self._inflight[call.iid] -= 1
        return True

    def get(self, key: Any) -> OutgoingCall | None:
        return self._calls.get(key)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def snapshot(self, where: Callable[[OutgoingCall], bool] | None = None) -> list[OutgoingCall]:
        """The calls in flight now (those ``where`` accepts): safe to end while iterating."""
        if where is None:
            return list(self._calls.values())
        return [c for c in self._calls.values() if where(c)]


class ServingTable:
    """Calls this process is serving, keyed by the caller's reply subject (NATS) or
    ``(connection, call id)`` (direct plane)."""

    def __init__(self) -> None:
        self._calls: dict[Any, ServerCall] = {}

    def add(self, key: Any, sc: ServerCall) -> None:
        self._calls[key] = sc

    def remove(self, key: Any) -> None:
        self._calls.pop(key, None)

    def get(self, key: Any) -> ServerCall | None:
        return self._calls.get(key)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def snapshot(self, where: Callable[[ServerCall], bool] | None = None) -> list[ServerCall]:
        if where is None:
            return list(self._calls.values())
        return [sc for sc in self._calls.values() if where(sc)]

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until every call has ended; True when they all did."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._calls:  # calls end on their own; poll briefly
            if loop.time() >= end:
                return False
            await asyncio.sleep(0.01)
        return True
