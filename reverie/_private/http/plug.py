"""``Plug``: an immutable, fluent HTTP client on a ``PlugTransport``.

``Plug("http://127.0.0.1:8000/feed").at("items", 7).with_(limit=10).get()``. Each request is a
``PlugRequest`` handed to the Plug's transport (``plugtransport.py``). Which transport:

- the one it was made with: a dependency's ``.plug`` and ``attach_http(host).plug(uri)`` carry
  their host's ``HostTransport`` (the host's own origins, ``local://<host name>``, its bound and
  public URLs, go straight into its ASGI application, no socket; others over the network);
  ``Plug(uri, transport=...)`` takes any, e.g. one over the runtime;
- else, inside a handler, the ``HostTransport`` of the host serving the call (so a Plug built
  from a URL string there reaches that host's own URIs in-process);
- else the network (pooled httpx, one pool per event loop).
There is no process-wide registry of hosts: a ``local://`` URI is reachable only through the host
that owns it.

Failure rule: any HTTP status, 2xx or not, comes back as a ``PlugResponse`` (check ``status`` or
call ``raise_for_status()``); a transport failure raises: ``TransportError`` when the connection
cannot be made or breaks (refused, DNS, reset), ``DeadlineExceededError`` when no answer arrives
at all. The timeout (default 60 s, ``with_timeout``, or the caller's tighter deadline) travels to
the server as ``X-Reverie-Timeout``; a Reverie host enforces it and answers 504 (a response,
local or remote alike); the network wait itself gives up ``GRACE`` seconds later.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from reverie.errors import TransportError

from ..call.context import CURRENT, RequestContext
from ..markers import NOT_GIVEN
from ..transports.codec import json_encode
from .plugtransport import GRACE, Headers, PlugRequest, PlugResponse, PlugTransport

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_TIMEOUT", "GRACE", "Headers", "Plug", "PlugResponse", "close_shared_client"]

DEFAULT_TIMEOUT = 60.0


async def close_shared_client() -> None:
    """Close this event loop's pooled network client (tests and shutdown)."""
    from .plughttpx import close_shared_client as close

    await close()


class _Unreachable(PlugTransport):
    """Where no transport can go (a ``local://`` URI outside its host): sending raises."""

    def __init__(self, why: str) -> None:
        self.why = why

    async def send(self, request: PlugRequest, *, stream: bool = False) -> PlugResponse:
        raise TransportError(self.why, request_id=request.context.request_id)


class Plug:
    """An immutable request builder: ``at/with_/with_header/with_timeout`` return new Plugs."""

    __slots__ = ("_headers", "_origin", "_path", "_query", "_timeout", "_transport")

    def __init__(
        self,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
        transport: PlugTransport | None = None,
    ) -> None:
        """``transport``: how requests travel (see the module doc for the default);
        ``client``: shorthand for the network transport over that ``httpx.AsyncClient``."""
        parts = urlsplit(uri)
        if not parts.scheme or not parts.netloc:
            raise ValueError(
                f"Plug({uri!r}): a Plug needs an absolute URI such as 'http://127.0.0.1:8000/feed'"
                f" or 'local://<host name>/<service>'"
            )
        self._origin = f"{parts.scheme}://{parts.netloc}".lower()
        self._path = parts.path.rstrip("/")
        self._query: tuple[tuple[str, str], ...] = tuple(
            tuple(q.split("=", 1)) if "=" in q else (q, "")  # type: ignore[misc]
            for q in parts.query.split("&")
            if q
        )
        self._headers: tuple[tuple[bytes, bytes], ...] = tuple(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        )
        self._timeout = timeout
        if transport is None and client is not None:
            from .plughttpx import HttpxTransport

            transport = HttpxTransport(client)
        self._transport = transport

    def via(self, transport: PlugTransport | None) -> Plug:
        """The same Plug on another transport (None: the default, see the module doc)."""
        return self._copy(_transport=transport)

    def _copy(self, **changes: Any) -> Plug:
        new = Plug.__new__(Plug)
        for name in Plug.__slots__:
            object.__setattr__(new, name, changes.get(name, getattr(self, name)))
        return new

    @property
    def uri(self) -> str:
        q = f"?{urlencode(self._query)}" if self._query else ""
        return f"{self._origin}{self._path}{q}"

    def at(self, *segments: Any) -> Plug:
        """Append path segments (each percent-encoded; ``/`` inside a segment stays data)."""
        tail = "/".join(quote(str(s), safe="") for s in segments)
        return self._copy(_path=f"{self._path}/{tail}" if tail else self._path)

    def with_(self, name: str | None = None, value: Any = None, /, **params: Any) -> Plug:
        """Add query parameters: ``with_(limit=10)`` or ``with_("a-b", 1)``; None is skipped."""
        items = list(params.items())
        if name is not None:
            items.insert(0, (name, value))
        q = list(self._query)
        for k, v in items:
            if v is None:
                continue
            for one in v if isinstance(v, (list, tuple)) else (v,):
                q.append((k, "true" if one is True else "false" if one is False else str(one)))
        return self._copy(_query=tuple(q))

    def with_header(self, name: str, value: str) -> Plug:
        pair = (name.lower().encode("latin-1"), value.encode("latin-1"))
        return self._copy(_headers=(*self._headers, pair))

    def with_timeout(self, seconds: float) -> Plug:
        return self._copy(_timeout=float(seconds))

    def __truediv__(self, segment: Any) -> Plug:
        return self.at(segment)

    def __repr__(self) -> str:
        return f"Plug({self.uri!r})"

    # -- verbs -----------------------------------------------------------------------------------

    def get(self) -> Coroutine[Any, Any, PlugResponse]:
        return self.request("GET")

    def head(self) -> Coroutine[Any, Any, PlugResponse]:
        return self.request("HEAD")

    def delete(self) -> Coroutine[Any, Any, PlugResponse]:
        return self.request("DELETE")

    def options(self) -> Coroutine[Any, Any, PlugResponse]:
        return self.request("OPTIONS")

    def post(
        self, *, json: Any = NOT_GIVEN, content: bytes | str | None = None
    ) -> Coroutine[Any, Any, PlugResponse]:
        return self.request("POST", json=json, content=content)

    def put(
        self, *, json: Any = NOT_GIVEN, content: bytes | str | None = None
    ) -> Coroutine[Any, Any, PlugResponse]:
        return self.request("PUT", json=json, content=content)

    def patch(
        self, *, json: Any = NOT_GIVEN, content: bytes | str | None = None
    ) -> Coroutine[Any, Any, PlugResponse]:
        return self.request("PATCH", json=json, content=content)

    def _request(self, method: str, json: Any, content: bytes | str | None) -> PlugRequest:
        """The request: the body, and the call's context (the current one's child with this
        Plug's timeout, else a fresh one keeping an explicit ``X-Request-Id``)."""
        body = b""
        headers = list(self._headers)
        if json is not NOT_GIVEN:
            body = json_encode(json)
            headers.append((b"content-type", b"application/json"))
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        parent = CURRENT.get()
        if parent is not None:
            ctx = parent.child(self._timeout)
        else:
            rid = None
            for k, v in self._headers:
                if k == b"x-request-id":
                    rid = v.decode("latin-1")
            ctx = RequestContext(rid, time.monotonic() + self._timeout)
        return PlugRequest(method, self._origin, self._path, self._query, headers, body, ctx)

    @property
    def transport(self) -> PlugTransport:
        """The transport this Plug's requests take now (see the module doc)."""
        t = self._transport
        if t is not None:
            return t
        ctx = CURRENT.get()
        if ctx is not None and ctx.plugs is not None:
            t = ctx.plugs
            return t  # type: ignore[no-any-return]
        if self._origin.startswith("local://"):
            return _Unreachable(
                f"{self.uri}: a local:// URI is reached only through the host named in it: use "
                f"a dependency's .plug, attach_http(host).plug(uri) or GraphHandle.http(), or "
                f"build the Plug inside one of that host's handlers"
            )
        from .plughttpx import network

        return network()

    def request(
        self, method: str, *, json: Any = NOT_GIVEN, content: bytes | str | None = None
    ) -> Coroutine[Any, Any, PlugResponse]:
        """Send ``method``; any HTTP status returns, a transport failure raises (see module doc).
        A plain function returning the transport's coroutine: no frame of its own."""
        return self.transport.send(self._request(method, json, content))

    @asynccontextmanager
    async def stream(
        self,
        method: str = "GET",
        *,
        json: Any = NOT_GIVEN,
        content: bytes | str | None = None,
        accept: str = "text/event-stream",
    ) -> AsyncIterator[PlugResponse]:
        """``async with plug.stream() as resp: async for ev in resp.aiter_events(): ...``.

        Leaving the block closes the stream, which cancels the producer on the serving side.
        """
        request = self._request(method, json, content)
        request.headers.append((b"accept", accept.encode()))
        resp = await self.transport.send(request, stream=True)
        try:
            yield resp
        finally:
            await resp.aclose()
