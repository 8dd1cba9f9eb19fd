"""A client that goes away cancels its handler: unary and before a stream's first item.

Watching needs a concurrent ``receive()``, which is a Task. So that a quick request pays no Task
and no timer, one sweeper per application runs every ``WATCH_AFTER`` seconds while requests are
in flight and gives a watcher only to those still running; a client disconnect (or a caller
cancelled on the far side of ``HttpTransport``, whose connection closes) then cancels the
handler within about two sweeps. An in-process Plug needs none: its caller's cancellation
reaches the handler directly (the application runs in the caller's task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["WATCH_AFTER", "DisconnectWatch", "Watched"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

#: Seconds between sweeps: a handler running longer gets its connection watched.
WATCH_AFTER = 0.05


class Watched:
    """One request in flight: its task, ``receive``, its watcher (once swept), whether gone."""

    __slots__ = ("gone_", "receive", "task", "watcher")

    def __init__(self, task: asyncio.Task[Any], receive: Receive) -> None:
        self.task = task
        self.receive = receive
        self.watcher: asyncio.Task[None] | None = None
        self.gone_ = False

    def gone(self) -> bool:
        """Whether the client disconnected; if so, take back the cancellation it caused."""
        if self.gone_:
            self.task.uncancel()
        return self.gone_


class DisconnectWatch:
    """``w = watch.enter(receive)``; await the work; on ``CancelledError`` ask ``w.gone()``
    (True: the client left, the cancellation was ours); always ``watch.leave(w)``."""

    __slots__ = ("_loop", "_running", "_timer")

    def __init__(self) -> None:
        self._running: dict[asyncio.Task[Any], Watched] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, receive: Receive) -> Watched | None:
        task = asyncio.current_task()
        if task is None or getattr(receive, "reverie_local", False) or task in self._running:
            return None  # in-process (or nested in a watched request): cancellation is direct
        w = Watched(task, receive)
        self._running[task] = w
        if self._timer is None or self._loop is not task.get_loop():
            self._loop = task.get_loop()
            self._timer = self._loop.call_later(WATCH_AFTER, self._sweep)
        return w

    def leave(self, w: Watched | None) -> None:
        if w is None:
            return
        self._running.pop(w.task, None)
        if w.watcher is not None:
            w.watcher.cancel()

    def _sweep(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None or not self._running:
            return
        for w in list(self._running.values()):
            if w.watcher is None:
                w.watcher = loop.create_task(_watch(w))
        self._timer = loop.call_later(WATCH_AFTER, self._sweep)


async def _watch(w: Watched) -> None:
    while True:
        msg = await w.receive()
        if msg["type"] == "http.disconnect":
            w.gone_ = True
            w.task.cancel()
            return
