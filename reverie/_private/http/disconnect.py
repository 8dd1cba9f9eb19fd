"""A client that goes away cancels its handler: unary and before a stream's first item.

Watching needs a concurrent ``receive()``, which is a Task. A handler that answers within
``WATCH_AFTER`` seconds pays only a timer handle; a slower one gets the watcher, so a client
disconnect (or a caller cancelled on the far side of ``HttpTransport``, whose connection closes)
cancels it within ``WATCH_AFTER`` seconds of the disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["WATCH_AFTER", "DisconnectWatch"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

#: Seconds a handler runs before its client's connection is watched.
WATCH_AFTER = 0.05


class DisconnectWatch:
    """``w = DisconnectWatch(receive)``; await the work; on ``CancelledError`` ask ``w.gone()``
    (True: the client left, the cancellation was ours and is absorbed); always ``w.stop()``."""

    __slots__ = ("_gone", "_handle", "_receive", "_task", "_watcher")

    def __init__(self, receive: Receive, delay: float = WATCH_AFTER) -> None:
        self._receive = receive
        self._task = asyncio.current_task()
        self._watcher: asyncio.Task[None] | None = None
        self._gone = False
        self._handle = asyncio.get_running_loop().call_later(delay, self._start)

    def _start(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            msg = await self._receive()
            if msg["type"] == "http.disconnect":
                self._gone = True
                if self._task is not None:
                    self._task.cancel()
                return

    def gone(self) -> bool:
        """Whether the client disconnected; if so, take back the cancellation it caused."""
        if self._gone and self._task is not None:
            self._task.uncancel()
        return self._gone

    def stop(self) -> None:
        self._handle.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
