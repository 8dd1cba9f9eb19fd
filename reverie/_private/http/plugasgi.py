"""In-process Plug transports: ``AsgiTransport`` calls an ASGI application in this process, no
socket; ``HostTransport`` sends a host's own origins (its aliases) there and the rest over the
network.

The request context object rides in the ASGI scope (``reverie.context``), so a Reverie host
enforces the caller's deadline and keeps its request id without a header round trip. A unary
exchange runs the application in the caller's task: cancelling the caller cancels the handler
directly. A streamed one runs it in a task of its own, fed through a queue; closing the response
tells the application the client went away and waits for it to end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from reverie.errors import DeadlineExceededError, TransportError

from .plugtransport import Headers, PlugRequest, PlugResponse, PlugTransport

if TYPE_CHECKING:
    from .app import HostApp

__all__ = ["AsgiTransport", "HostTransport"]

_ASGI = {"version": "3.0"}
#: How long closing a streamed exchange waits for the application to end before cancelling it.
CLOSE_WAIT = 5.0


def _scope(request: PlugRequest) -> dict[str, Any]:
    path = request.path
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": (unquote(path) if "%" in path else path) or "/",
        "raw_path": path.encode(),
        "root_path": "",
        "client": None,
        "server": None,
        "query_string": urlencode(request.query).encode() if request.query else b"",
        "headers": request.headers,
        "reverie.context": request.context,
    }


class AsgiTransport(PlugTransport):
    """Requests straight into ``app`` (any ASGI 3 application), in this process."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def describe(self) -> str:
        return "in-process"

    async def send(self, request: PlugRequest, *, stream: bool = False) -> PlugResponse:
        if stream:
            return await self._stream(request)
        start: list[Any] = []
        parts: list[bytes] = []
        waiting: list[asyncio.Future[None]] = []
        first = {"type": "http.request", "body": request.body, "more_body": False}

        async def receive() -> dict[str, Any]:
            if not waiting:
                waiting.append(asyncio.get_running_loop().create_future())
                return first
            await waiting[0]  # after the body, only the end of the call: a disconnect
            return {"type": "http.disconnect"}

        # The app runs in this task: cancelling the caller cancels the handler directly.
        receive.reverie_local = True  # type: ignore[attr-defined]

        async def send(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                start.append(msg)
            else:
                parts.append(msg.get("body", b""))

        try:
            await self.app(_scope(request), receive, send)
        finally:
            if waiting and not waiting[0].done():
                waiting[0].set_result(None)
        if not start:
            raise TransportError(
                f"{request.url}: the in-process application ended without answering"
            )
        content = parts[0] if len(parts) == 1 else b"".join(parts)
        return PlugResponse(
            start[0]["status"], Headers(start[0].get("headers", [])), content, url=request.url
        )

    async def _stream(self, request: PlugRequest) -> PlugResponse:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        gone = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(msg: Any) -> None:
            if not gone.is_set():
                await queue.put(msg)

        async def run() -> None:
            try:
                await self.app(_scope(request), receive, send)
            finally:
                await queue.put(None)

        task = asyncio.get_running_loop().create_task(run())

        async def close() -> None:
            gone.set()
            try:
                await asyncio.wait_for(task, CLOSE_WAIT)
            except (asyncio.TimeoutError, Exception):  # noqa: UP041 - also wait_for's own
                task.cancel()

        try:
            start = await _start(request, queue, task)
        except BaseException:
            await close()
            raise
        return PlugResponse(
            start["status"],
            Headers(start.get("headers", [])),
            None,
            _chunks(queue),
            request.url,
            close,
        )


async def _start(
    request: PlugRequest,
    queue: asyncio.Queue[dict[str, Any] | None],
    task: asyncio.Task[None],
) -> dict[str, Any]:
    """A streamed exchange's ``http.response.start`` message, awaited within the deadline."""
    deadline = request.context.deadline
    try:
        async with asyncio.timeout(None if deadline is None else deadline - time.monotonic()):
            start = await queue.get()
    except TimeoutError:
        raise DeadlineExceededError(
            f"{request.method} {request.url}: no answer in time (in-process)",
            request_id=request.context.request_id,
        ) from None
    if start is None:
        await task  # the app failed before answering: surface its exception
        raise TransportError(f"{request.url}: the in-process application ended without answering")
    return start


async def _chunks(queue: asyncio.Queue[dict[str, Any] | None]) -> AsyncIterator[bytes]:
    """A streamed exchange's body pieces, from the queue the application sends into."""
    while True:
        msg = await queue.get()
        if msg is None:
            return
        yield msg.get("body", b"")
        if not msg.get("more_body", False):
            return


class HostTransport(PlugTransport):
    """A host's transport for Plugs it makes: its own origins (``app.origins``: its
    ``local://<name>`` alias, bound and public URLs) in-process, every other over ``remote``
    (default: the pooled network transport)."""

    def __init__(self, app: HostApp, remote: PlugTransport | None = None) -> None:
        self.app = app
        self.local = AsgiTransport(app)
        self.remote = remote

    def describe(self) -> str:
        return f"host {self.app.host.name}"

    def route(self, origin: str) -> PlugTransport:
        """The transport a request to ``origin`` takes."""
        if origin in self.app.origins:
            return self.local
        if self.remote is None:
            from .plughttpx import network

            return network()
        return self.remote

    def send(
        self, request: PlugRequest, *, stream: bool = False
    ) -> Coroutine[Any, Any, PlugResponse]:
        # A plain function returning the chosen transport's coroutine: no frame of its own.
        if request.origin in self.app.origins:
            return self.local.send(request, stream=stream)
        return self.route(request.origin).send(request, stream=stream)
