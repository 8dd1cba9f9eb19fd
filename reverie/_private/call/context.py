"""The request context: request id, deadline and trace context, visible to handlers.

A handler reads it with ``reverie.current_context()``. Every client call made while a context is
current carries the same request id and the tighter of the two deadlines on to the target.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from contextvars import ContextVar
from typing import Any

__all__ = [
    "RequestContext",
    "current_context",
    "fresh_context",
    "new_context",
    "new_request_id",
]

# A cheap unique id: uuid4() costs ~2 us, too much for an in-process hot path.
_PREFIX = os.urandom(6).hex()
_counter = itertools.count(1)


def new_request_id() -> str:
    """A fresh request id (cheap: a per-process random prefix and a counter)."""
    return f"{_PREFIX}-{next(_counter)}"


class RequestContext:
    """Per-call data that travels with the call and on into downstream calls.

    ``deadline`` is an absolute ``time.monotonic()`` value on this machine; on the wire it travels
    as the remaining seconds (``timeout``) so clocks never need to agree.
    """

    # Class-level defaults, no __slots__: ``fresh_context()`` makes a context with every field
    # unset without running an ``__init__`` (~60 ns instead of ~130 ns; an in-process call from
    # outside any handler makes one per call, bench/bench_inprocess.py).
    _request_id: str | None = None
    deadline: float | None = None
    trace: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    #: The Plug transport of the host serving this call (set by its HTTP application, kept
    #: by downstream contexts): a Plug built from a URL string in the handler takes it, so
    #: that host's own URIs are reached in-process. Typed loosely: the core knows no HTTP.
    plugs: Any = None

    def __init__(
        self,
        request_id: str | None = None,
        deadline: float | None = None,
        trace: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._request_id = request_id
        self.deadline = deadline
        self.trace = trace
        self.headers = headers

    @property
    def request_id(self) -> str:
        rid = self._request_id
        if rid is None:
            rid = self._request_id = f"{_PREFIX}-{next(_counter)}"
        return rid

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def child(self, timeout: float | None) -> RequestContext:
        """The context for a downstream call: same id and trace, the tighter deadline."""
        deadline = self.deadline
        if timeout is not None:
            mine = time.monotonic() + timeout
            if deadline is None or mine < deadline:
                deadline = mine
        child = RequestContext(self.request_id, deadline, self.trace)
        if self.plugs is not None:
            child.plugs = self.plugs
        return child

    def to_wire(self) -> dict[str, Any]:
        """Plain data for a transport header: remaining time, not an absolute deadline."""
        out: dict[str, Any] = {"id": self.request_id}
        rem = self.remaining()
        if rem is not None:
            out["timeout"] = rem
        if self.trace:
            out["trace"] = self.trace
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any] | None) -> RequestContext:
        """The context a caller sent; ``ValueError`` when it is malformed (a frame off the wire
        may hold anything: the id must be a string, the timeout a finite number of seconds,
        the trace a mapping of strings)."""
        if not data:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"the context must be a map, not {type(data).__name__}")
        timeout = data.get("timeout")
        deadline = None
        if timeout is not None:
            if (
                isinstance(timeout, bool)
                or not isinstance(timeout, (int, float))
                or not (math.isfinite(timeout) and timeout <= _MAX_TIMEOUT)
            ):
                raise ValueError(
                    f"the context's timeout must be a finite number of seconds up "
                    f"to {_MAX_TIMEOUT:g}, not {str(timeout)[:32]!r}"
                )
            deadline = time.monotonic() + float(timeout)
        rid = data.get("id")
        if rid is not None and not isinstance(rid, str):
            raise ValueError(f"the context's id must be a string, not {type(rid).__name__}")
        trace = data.get("trace")
        if trace is not None and not (
            isinstance(trace, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in trace.items())
        ):
            raise ValueError("the context's trace must be a map of strings")
        return cls(rid, deadline, trace)

    def __repr__(self) -> str:
        return f"RequestContext(request_id={self.request_id!r}, remaining={self.remaining()!r})"


#: The longest timeout a context takes (a year); larger ones would overflow timer arithmetic.
_MAX_TIMEOUT = 365 * 24 * 3600.0

_current: ContextVar[RequestContext | None] = ContextVar("reverie_request_context", default=None)


def current_context() -> RequestContext | None:
    """The context of the call being handled, or None outside a handler."""
    return _current.get()


class _Fresh(RequestContext):
    """A context with every field at its class default, made by ``type.__call__`` alone."""

    __init__ = object.__init__  # no Python frame: see above


#: A new context with no id yet (made on first read), no deadline, no trace: the call's own
#: when it starts outside any handler.
fresh_context: type[RequestContext] = _Fresh


def new_context(timeout: float | None = None) -> RequestContext:
    """A context for a call: the child of the current one, or a fresh one."""
    parent = _current.get()
    if parent is not None:
        return parent.child(timeout)
    if timeout is None:
        return fresh_context()
    return RequestContext(None, time.monotonic() + timeout)


CURRENT = _current
