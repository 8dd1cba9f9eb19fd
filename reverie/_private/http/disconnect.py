"""A client that goes away cancels its handler: unary and before a stream's first item.

On Reverie's own server (``HttpServer``: ``limits.protocol_class`` given the application's
watch) the connection tells: when it closes before its response began, it cancels the request's
task at once (``client_left``), and a request pays nothing. Such a server marks each request's
``scope["state"]`` with the watch (``SERVER_WATCHES``).

Under any other ASGI server watching needs a concurrent ``receive()``, which is a Task. So that
a quick request pays no Task and no timer, one sweeper per application runs every
``WATCH_AFTER`` seconds while requests are in flight and gives a watcher only to those still
running; a client disconnect (or a caller cancelled on the far side of ``HttpTransport``, whose
connection closes) then cancels the handler within about two sweeps. An in-process Plug needs
none: its caller's cancellation reaches the handler directly (the application runs in the
caller's task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["SERVER_WATCHES", "WATCH_AFTER", "DisconnectWatch", "Watched"]

#: The loop -> current task table behind ``asyncio.current_task`` (a Python function on 3.11,
#: so reading the table is cheaper); None where a Python version has no such table.
_CURRENT: dict[Any, asyncio.Task[Any]] | None = getattr(asyncio.tasks, "_current_tasks", None)

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

#: Seconds between sweeps: a handler running longer gets its connection watched.
WATCH_AFTER = 0.05

#: The ``scope["state"]`` key under which a server that watches its connections itself puts
#: the ``DisconnectWatch`` it reports to (``limits.protocol_class``).
SERVER_WATCHES = "reverie.disconnect_watch"


class Watched:
    """A request the sweeper found still running: its task and the watcher reading its
    ``receive`` for ``http.disconnect``."""

    __slots__ = ("gone_", "task", "watcher")

    def __init__(self, task: asyncio.Task[Any], watcher: asyncio.Task[None] | None) -> None:
        self.task = task
        self.watcher = watcher
        self.gone_ = False


class DisconnectWatch:
    """``t = watch.enter(receive)``; await the work; on ``CancelledError`` ask
    ``watch.gone(t)`` (True: the client left, the cancellation was ours); always
    ``watch.leave(t)``.

    Per request this costs two dict operations: the task and its ``receive`` go in
    ``running``; only requests a sweep finds still running get a ``Watched`` and a watcher."""

    __slots__ = ("_loop", "_timer", "running", "watched")

    def __init__(self) -> None:
        self.running: dict[asyncio.Task[Any], Receive] = {}
        self.watched: dict[asyncio.Task[Any], Watched] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, receive: Receive) -> asyncio.Task[Any] | None:
        if getattr(receive, "reverie_local", False):
            return None  # in-process: the caller's cancellation reaches the handler directly
        return self.enter_socket(receive)

    def enter_socket(self, receive: Receive) -> asyncio.Task[Any] | None:
        """``enter`` for a request known to come from a server (not an in-process Plug)."""
        if _CURRENT is not None:
            # The task of the loop seen last: no get_running_loop() (a measurable share of a
            # hello-world request). Another loop running now has no task under that key.
            task = _CURRENT.get(self._loop)
            if task is not None:
                running = self.running
                if task in running:
                    return None
                running[task] = receive
                if self._timer is None:
                    self._timer = task.get_loop().call_later(WATCH_AFTER, self._sweep)
                return task
        loop = asyncio.get_running_loop()
        task = _CURRENT.get(loop) if _CURRENT is not None else asyncio.current_task(loop)
        if task is None or task in self.running:
            return None  # nested in a watched request: that one's watcher covers it
        self.running[task] = receive
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_later(WATCH_AFTER, self._sweep)
        return task

    def client_left(self, task: asyncio.Task[Any]) -> None:
        """The server saw the connection of ``task``'s request close before its response
        began: cancel the handler, as a watcher would have."""
        w = self.watched.get(task)
        if w is None:
            w = self.watched[task] = Watched(task, None)
        if not w.gone_:
            w.gone_ = True
            task.cancel()

    def gone(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether the client of ``task``'s request disconnected; if so, take back the
        cancellation that caused."""
        w = self.watched.get(task) if task is not None and self.watched else None
        if w is None or not w.gone_:
            return False
        w.task.uncancel()
        return True

    def leave(self, task: asyncio.Task[Any] | None) -> None:
        if task is None:
            return
        self.running.pop(task, None)
        if self.watched:
            self.leave_watched(task)

    def leave_watched(self, task: asyncio.Task[Any]) -> None:
        """The part of ``leave`` for a request a sweep may have found running."""
        w = self.watched.pop(task, None)
        if w is not None and w.watcher is not None:
            w.watcher.cancel()

    def _sweep(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None or not self.running:
            return
        for task, receive in list(self.running.items()):
            if task not in self.watched:
                w = self.watched[task] = Watched(task, None)
                w.watcher = loop.create_task(_watch(w, receive))
        self._timer = loop.call_later(WATCH_AFTER, self._sweep)


async def _watch(w: Watched, receive: Receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            w.gone_ = True
            w.task.cancel()
            return
