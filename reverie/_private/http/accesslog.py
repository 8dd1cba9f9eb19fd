"""The access log: one line per HTTP request (method, path, status, duration, request id).

An ASGI wrapper around the host's application, put in front of it only when the access log is on,
so a host serving with it off pays nothing. It replaces uvicorn's access log, which has neither
the duration nor the request id. A request without ``X-Request-Id`` gets one here, so the access
line and any error logged while handling it carry the same id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..call.context import new_request_id

__all__ = ["ACCESS_LOGGER", "AccessLog"]

ACCESS_LOGGER = "reverie.access"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class AccessLog:
    """``AccessLog(app)``: the same application, logging each request to ``reverie.access``."""

    def __init__(self, app: App, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or logging.getLogger(ACCESS_LOGGER)

    def __getattr__(self, name: str) -> Any:  # the wrapped HostApp's attributes (aliases, host)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        rid = None
        headers = scope["headers"]
        for k, v in headers:
            if k == b"x-request-id":
                rid = v.decode("latin-1")
                break
        if rid is None:
            rid = new_request_id()
            scope["headers"] = [*headers, (b"x-request-id", rid.encode())]
        status = 0
        size = 0

        async def watch(message: Message) -> None:
            nonlocal status, size
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
            elif kind == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, watch)
        finally:
            ms = (time.perf_counter() - t0) * 1000.0
            client = scope.get("client")
            peer = f"{client[0]}:{client[1]}" if client else "-"
            path = scope.get("path", "")
            query = scope.get("query_string", b"")
            if query:
                path = f"{path}?{query.decode('latin-1')}"
            method = scope.get("method", "")
            self.log.info(
                "%s %s %s %d %.1fms %dB request_id=%s",
                peer,
                method,
                path,
                status or 499,
                ms,
                size,
                rid,
                extra={
                    "method": method,
                    "path": path,
                    "status": status or 499,
                    "duration_ms": round(ms, 3),
                    "bytes": size,
                    "request_id": rid,
                    "client": peer,
                },
            )
