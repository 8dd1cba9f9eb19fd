"""A request's head as the host's application reads it: the headers it needs in one pass
(auth, accept, length, request id, deadline, trace), the request context they carry (a
malformed ``X-Reverie-Timeout`` is a 400 naming it), and the errors of reading a body."""

from __future__ import annotations

import math
import time

from reverie.errors import ServiceError, ValidationError

from ..call.context import RequestContext

__all__ = [
    "CONTEXT_HEADERS",
    "CONTEXT_SEEN",
    "MAX_TIMEOUT",
    "BodyTimeoutError",
    "Head",
    "TooLarge",
    "context_of",
    "timeout_seconds",
]


class Head:
    """The headers a request's handling needs, read in one pass."""

    __slots__ = ("accept", "auth", "length", "request_id", "timeout", "trace")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.auth: bytes | None = None
        self.request_id: str | None = None
        self.timeout: bytes | None = None
        self.trace: str | None = None
        self.accept: bytes = b""
        self.length: bytes | None = None
        for k, v in raw:
            if k == b"authorization":
                self.auth = v
            elif k == b"accept":
                self.accept = v
            elif k == b"content-length":
                self.length = v
            elif k == b"x-request-id":
                self.request_id = v.decode("latin-1")
            elif k == b"x-reverie-timeout":
                self.timeout = v
            elif k == b"traceparent":
                self.trace = v.decode("latin-1")

    def context(self) -> RequestContext:
        """The request context; a malformed ``X-Reverie-Timeout`` is a 400 naming it."""
        deadline = None
        if self.timeout is not None:
            deadline = time.monotonic() + timeout_seconds(self.timeout)
        trace = {"traceparent": self.trace} if self.trace else None
        return RequestContext(self.request_id, deadline, trace)


CONTEXT_HEADERS = frozenset({b"x-request-id", b"x-reverie-timeout", b"traceparent"})
#: The scope key Reverie's own server sets on a request carrying any of ``CONTEXT_HEADERS``
#: (it sees each header as it parses it), so the application scans the headers of those only.
CONTEXT_SEEN = "reverie.context_headers"


def context_of(rid: str | None, timeout: bytes | None, trace: str | None) -> RequestContext:
    """The context from these headers' values; a malformed timeout is a 400 naming it."""
    deadline = None if timeout is None else time.monotonic() + timeout_seconds(timeout)
    return RequestContext(rid, deadline, {"traceparent": trace} if trace else None)


#: The longest ``X-Reverie-Timeout`` taken: a year. Larger values would overflow timer arithmetic.
MAX_TIMEOUT = 365 * 24 * 3600.0


def timeout_seconds(raw: bytes) -> float:
    """Seconds left from the header: a finite number (<= 0 means already expired)."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value > MAX_TIMEOUT:
        shown = raw[:32].decode("latin-1")
        raise ValidationError(
            f"header X-Reverie-Timeout must be a finite number of seconds up to {MAX_TIMEOUT:g}, "
            f"not {shown!r}",
            details=[
                {
                    "loc": ["header", "x-reverie-timeout"],
                    "msg": "not a finite number",
                    "expected": "seconds",
                    "input": shown,
                }
            ],
            status=400,
        )
    return value


class TooLarge(Exception):
    """The body is over the host's ``max_body_size`` (answered 413)."""


class BodyTimeoutError(ServiceError):
    """The request body did not arrive within the host's ``body_timeout`` (408; the
    connection is closed after the answer, as its framing can no longer be trusted)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408, f"the request body did not arrive within {seconds:g} s (this host's body_timeout)"
        )
