"""The Plug transport interface: one HTTP request in, one ``PlugResponse`` out.

Every HTTP client in Reverie (``Plug``, the ``HttpTransport`` that calls endpoints) builds a
``PlugRequest`` and hands it to a ``PlugTransport``; how the request travels is the transport's
business. Shipped implementations: ``AsgiTransport`` (``plugasgi.py``: straight into a host's ASGI
application, no socket), ``HttpxTransport`` (``plughttpx.py``: pooled httpx, one pool per event
loop) and ``HostTransport`` (``plugasgi.py``: a host's aliases in-process, every other origin over
the network). A new transport (NATS, say) implements ``send`` and nothing else.

The contract of ``send`` (like httpx's ``AsyncBaseTransport.handle_async_request``):

- Any HTTP status, 2xx or not, is returned as a ``PlugResponse``; a failure to get one raises a
  ``CallError``: ``TransportError`` when the connection cannot be made or breaks,
  ``DeadlineExceededError`` when no answer came in time (map foreign exceptions with
  ``CallError.from_transport``).
- ``request.context`` is the call's ``RequestContext``: request id, deadline (absolute, this
  machine's ``time.monotonic()``), trace. A transport that leaves the process sends it as the
  ``X-Request-Id``, ``X-Reverie-Timeout`` (remaining seconds) and ``traceparent`` headers
  (``context_headers``) unless the request already carries them; an in-process one hands the
  object over as is. The network wait ends ``GRACE`` seconds after the deadline.
- ``stream=False``: the body is read completely (``response.content``). ``stream=True``: the
  body arrives through ``response.aiter_bytes()``; the caller must ``await response.aclose()``
  when done (``Plug.stream`` does), which ends the exchange and, for a streaming handler,
  cancels its producer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..transports.codec import json_decode

if TYPE_CHECKING:
    from reverie.errors import CallError

    from ..call.context import RequestContext

__all__ = ["GRACE", "Headers", "PlugRequest", "PlugResponse", "PlugTransport", "context_headers"]

#: How much longer than the deadline the network wait lasts, so that a server enforcing the same
#: deadline (a Reverie host answers 504) is heard before the client gives up.
GRACE = 0.5


class PlugRequest:
    """One HTTP request, transport-neutral: ``origin`` (``scheme://host:port``, lower case),
    ``path`` (percent-encoded, no query), ``query`` pairs, raw ``headers`` (lower-case names),
    the whole ``body`` and the call's ``context``."""

    __slots__ = ("body", "context", "headers", "method", "origin", "path", "query")

    def __init__(
        self,
        method: str,
        origin: str,
        path: str,
        query: tuple[tuple[str, str], ...],
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        context: RequestContext,
    ) -> None:
        self.method = method
        self.origin = origin
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.context = context

    @property
    def url(self) -> str:
        """``origin`` + ``path``, for messages (without the query)."""
        return f"{self.origin}{self.path or '/'}"

    def __repr__(self) -> str:
        return f"<PlugRequest {self.method} {self.url}>"


def context_headers(request: PlugRequest) -> list[tuple[bytes, bytes]]:
    """The request's headers plus its context as headers (for a transport leaving the process):
    ``x-request-id``, ``x-reverie-timeout`` (remaining seconds, when there is a deadline) and
    ``traceparent``, each unless the request sets it itself."""
    headers = request.headers
    ctx = request.context
    have = {k for k, _ in headers}
    out = list(headers)
    if b"x-request-id" not in have:
        out.append((b"x-request-id", ctx.request_id.encode("latin-1")))
    if ctx.deadline is not None and b"x-reverie-timeout" not in have:
        rem = max(ctx.deadline - time.monotonic(), 0.0)
        out.append((b"x-reverie-timeout", f"{rem:.6f}".encode()))
    if ctx.trace and "traceparent" in ctx.trace and b"traceparent" not in have:
        out.append((b"traceparent", ctx.trace["traceparent"].encode("latin-1")))
    return out


class PlugTransport:
    """Carries a ``PlugRequest`` to its target and brings back the answer (see the module doc
    for the contract). Subclass and implement ``send``; ``aclose`` frees what it holds."""

    async def send(self, request: PlugRequest, *, stream: bool = False) -> PlugResponse:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release the transport's resources (a no-op unless it owns any)."""

    def describe(self) -> str:
        """A few words for messages: how requests travel."""
        return type(self).__name__


class Headers(Mapping[str, str]):
    """Response headers: lower-case names, case-insensitive lookups, repeated names joined.

    Decoded on first use, so a caller that only reads the status and body pays nothing.
    """

    __slots__ = ("_d", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]] | list[tuple[str, str]]) -> None:
        self._raw = raw
        self._d: dict[str, str] | None = None

    @property
    def raw(self) -> list[tuple[bytes, bytes]] | list[tuple[str, str]]:
        """The headers as they arrived (name/value pairs)."""
        return self._raw

    @property
    def _map(self) -> dict[str, str]:
        d = self._d
        if d is None:
            d = self._d = {}
            for k, v in self._raw:
                ks = (k.decode("latin-1") if isinstance(k, bytes) else k).lower()
                vs = v.decode("latin-1") if isinstance(v, bytes) else v
                d[ks] = f"{d[ks]}, {vs}" if ks in d else vs
        return d

    def __getitem__(self, key: str) -> str:
        return self._map[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"Headers({self._map!r})"


class PlugResponse:
    """An HTTP answer: ``status``, ``headers``, and the body as bytes, text, JSON, lines, events.

    Sent with ``stream=True`` (``Plug.stream()``) the body arrives piece by piece
    (``aiter_bytes/lines/events``, or ``aread()``) and ``aclose()`` ends the exchange;
    otherwise it is complete (``content``). A transport builds it with the body's ``chunks``
    and the ``close`` callback that ends the exchange.
    """

    __slots__ = ("_chunks", "_close", "_content", "headers", "status", "url")

    def __init__(
        self,
        status: int,
        headers: Headers,
        content: bytes | None = None,
        chunks: AsyncIterator[bytes] | None = None,
        url: str = "",
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.url = url
        self._content = content
        self._chunks = chunks
        self._close = close

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError(
                "a streamed response's body is read with aread() or aiter_bytes/lines/events"
            )
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return json_decode(self.content)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def error(self, request_id: str | None = None) -> CallError | None:
        """The ``CallError`` a non-2xx answer describes (from its problem body), or None."""
        if self.is_success:
            return None
        from .problem import problem_error

        return problem_error(self.status, self._content or b"", self.url, request_id)

    def raise_for_status(self) -> PlugResponse:
        err = self.error()
        if err is not None:
            raise err
        return self

    async def aread(self) -> bytes:
        """The whole body (for a streamed response: the rest of it, then kept as ``content``)."""
        if self._content is None:
            self._content = b"".join([c async for c in self.aiter_bytes()])
            self._chunks = None
        return self._content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._chunks is None:
            if self.content:
                yield self.content
            return
        async for chunk in self._chunks:
            if chunk:
                yield chunk

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines (NDJSON, text), without their line ends."""
        from .problem import lines

        async for line in lines(self.aiter_bytes()):
            yield line.rstrip(b"\r").decode()

    async def aiter_events(self) -> AsyncIterator[dict[str, Any]]:
        """Server-Sent Events as ``{"event": name, "data": text, "id": ...}`` dicts."""
        from .problem import sse_events

        async for fields in sse_events(self.aiter_bytes()):
            event = {k.decode(): v.decode() for k, v in fields.items()}
            event.setdefault("event", "message")
            yield event

    async def aclose(self) -> None:
        """End the exchange (a streamed body): the server side stops producing. Idempotent."""
        close, self._close = self._close, None
        if close is not None:
            await close()

    def __repr__(self) -> str:
        return f"<PlugResponse {self.status} {self.url}>"
