"""Server-side logging of failed calls: one place decides what the operator sees.

The exception a handler raised itself (the origin of a failure) is logged with its traceback,
naming the service, the endpoint and the request id. A ``CallError`` the handler let through
(a dependency failed, a 502 from a dead peer) is one line at every hop it crosses, with the same
request id, so the origin's traceback is logged once and the path is still visible. Client
errors (4xx) are the caller's business and are not logged.
"""

from __future__ import annotations

import logging

from reverie.errors import CallError

__all__ = ["log_failure"]

_log = logging.getLogger("reverie.calls")


def log_failure(
    exc: BaseException,
    service: str | None,
    endpoint: str | None,
    request_id: str | None,
    what: str = "handler",
    logger: logging.Logger | None = None,
) -> None:
    """Log a failed call on the serving side (``what``: handler, stream, serialization…)."""
    lg = logger or _log
    name = f"{service or '?'}.{endpoint or '?'}"
    rid = request_id or "-"
    extra = {"service": service, "endpoint": endpoint, "request_id": request_id}
    if isinstance(exc, CallError):
        if exc.status < 500:
            return
        lg.error(
            "%s %s failed (request %s): %d %s: %s",
            what,
            name,
            rid,
            exc.status,
            exc.code,
            exc.message,
            extra=extra,
        )
        return
    lg.error(
        "%s %s raised %s (request %s): %s",
        what,
        name,
        type(exc).__name__,
        rid,
        exc,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra=extra,
    )
