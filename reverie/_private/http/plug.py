"""``Plug``: an immutable, fluent HTTP client; calls to this host's own URIs never touch a socket.

``Plug("http://127.0.0.1:8000/feed").at("items", 7).with_(limit=10).get()``. A URI naming a host
in this process (its ``local://<name>`` alias, its bound address, its public URL) is dispatched
straight into that host's ASGI application, giving the same status, headers and body as the
network path. Other URIs go through a pooled ``httpx.AsyncClient``.

Failure rule: any HTTP status, 2xx or not, comes back as a ``PlugResponse`` (check ``status`` or
call ``raise_for_status()``); a transport failure raises: ``TransportError`` when the connection
cannot be made or breaks (refused, DNS, reset), ``DeadlineExceededError`` when no answer arrives
at all. The timeout (default 60 s, ``with_timeout``, or the caller's tighter deadline) travels to
the server as ``X-Reverie-Timeout``; a Reverie host enforces it and answers 504 (a response,
local or remote alike); the network wait itself gives up ``GRACE`` seconds later.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from reverie.errors import CallError, DeadlineExceededError, TransportError

from ..call.context import CURRENT, RequestContext
from ..notgiven import NOT_GIVEN
from ..transports.codec import json_decode, json_encode

if TYPE_CHECKING:
    import httpx

    from .app import HostApp

__all__ = ["DEFAULT_TIMEOUT", "Plug", "PlugResponse", "register_alias", "unregister_app"]

DEFAULT_TIMEOUT = 60.0
#: How much longer than the timeout the network wait lasts, so that a server enforcing the same
#: deadline (a Reverie host answers 504) is heard before the client gives up.
GRACE = 0.5
# Weak: an alias goes away with its host's application (a stopped host is not kept alive).
_ALIASES: weakref.WeakValueDictionary[str, HostApp] = weakref.WeakValueDictionary()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def register_alias(base_url: str, app: HostApp) -> None:
    """Make URIs under ``base_url``'s origin dispatch in-process to ``app``."""
    _ALIASES[_origin(base_url)] = app


def unregister_app(app: HostApp) -> None:
    for key in [k for k, v in _ALIASES.items() if v is app]:
        del _ALIASES[key]


class Headers(Mapping[str, str]):
    """Response headers: lower-case names, case-insensitive lookups, repeated names joined.

    Decoded on first use, so a caller that only reads the status and body pays nothing.
    """

    __slots__ = ("_d", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]] | list[tuple[str, str]]) -> None:
        self._raw = raw
        self._d: dict[str, str] | None = None

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

    From ``Plug.stream()`` the body arrives piece by piece (``aiter_bytes/lines/events``);
    otherwise it is complete (``content``).
    """

    __slots__ = ("_chunks", "_content", "headers", "status", "url")

    def __init__(
        self,
        status: int,
        headers: Headers,
        content: bytes | None = None,
        chunks: AsyncIterator[bytes] | None = None,
        url: str = "",
    ) -> None:
        self.status = status
        self.headers = headers
        self.url = url
        self._content = content
        self._chunks = chunks

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("a streamed response's body is read with aiter_bytes/lines/events")
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return json_decode(self.content)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> CallError | None:
        """The ``CallError`` a non-2xx answer describes (from its problem body), or None."""
        if self.is_success:
            return None
        from .problem import problem_error

        return problem_error(self.status, self._content or b"", self.url)

    def raise_for_status(self) -> PlugResponse:
        err = self.error()
        if err is not None:
            raise err
        return self

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._chunks is None:
            if self.content:
                yield self.content
            return
        async for chunk in self._chunks:
            if chunk:
                yield chunk

    async def aiter_lines(self) -> AsyncIterator[str]:
        buf = b""
        async for chunk in self.aiter_bytes():
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.rstrip(b"\r").decode()
        if buf:
            yield buf.decode()

    async def aiter_events(self) -> AsyncIterator[dict[str, Any]]:
        """Server-Sent Events as ``{"event": name, "data": text, "id": ...}`` dicts."""
        event: dict[str, Any] = {}
        data: list[str] = []
        async for line in self.aiter_lines():
            if not line:
                if data or event:
                    event.setdefault("event", "message")
                    event["data"] = "\n".join(data)
                    yield event
                event, data = {}, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("event", "id", "retry"):
                event[name] = value
        if data:
            event.setdefault("event", "message")
            event["data"] = "\n".join(data)
            yield event

    def __repr__(self) -> str:
        return f"<PlugResponse {self.status} {self.url}>"


class Plug:
    """An immutable request builder: ``at/with_/with_header/with_timeout`` return new Plugs."""

    __slots__ = ("_client", "_headers", "_origin", "_path", "_query", "_timeout")

    def __init__(
        self,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
    ) -> None:
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
            for q in parts.query.split("&") if q
        )
        self._headers: tuple[tuple[bytes, bytes], ...] = tuple(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        )
        self._timeout = timeout
        self._client = client

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

    def _prepare(
        self, json: Any, content: bytes | str | None
    ) -> tuple[list[tuple[bytes, bytes]], bytes, float]:
        body = b""
        headers = list(self._headers)
        if json is not NOT_GIVEN:
            body = json_encode(json)
            headers.append((b"content-type", b"application/json"))
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        timeout = self._timeout
        ctx = CURRENT.get()
        if ctx is not None:
            headers.append((b"x-request-id", ctx.request_id.encode("latin-1")))
            if ctx.deadline is not None:
                timeout = min(timeout, ctx.deadline - time.monotonic())
            if ctx.trace and "traceparent" in ctx.trace:
                headers.append((b"traceparent", ctx.trace["traceparent"].encode("latin-1")))
        headers.append((b"x-reverie-timeout", f"{max(timeout, 0.0):.6f}".encode()))
        return headers, body, timeout

    async def request(
        self, method: str, *, json: Any = NOT_GIVEN, content: bytes | str | None = None
    ) -> PlugResponse:
        """Send ``method``; any HTTP status returns, a transport failure raises (see module doc)."""
        app = _ALIASES.get(self._origin)
        if app is not None:
            return await self._local(app, method, json, content)
        headers, body, timeout = self._prepare(json, content)
        return await _remote(self, method, headers, body, timeout)

    async def _local(
        self, app: HostApp, method: str, json: Any, content: bytes | str | None
    ) -> PlugResponse:
        """In-process: the context object rides in the scope (no header round trip), and the
        app enforces its deadline around the handler, as it does for a network request."""
        headers = list(self._headers)
        body = b""
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
            for k, v in self._headers:  # an explicit X-Request-Id, as the network path reads it
                if k == b"x-request-id":
                    rid = v.decode("latin-1")
            ctx = RequestContext(rid, time.monotonic() + self._timeout)
        path = self._path
        scope = {
            "type": "http", "asgi": _ASGI, "http_version": "1.1", "method": method,
            "scheme": "http", "path": (unquote(path) if "%" in path else path) or "/",
            "raw_path": path.encode(), "root_path": "", "client": None, "server": None,
            "query_string": urlencode(self._query).encode() if self._query else b"",
            "headers": headers, "reverie.context": ctx,
        }
        start: list[Any] = []
        parts: list[bytes] = []
        waiting: list[asyncio.Future[None]] = []
        first = {"type": "http.request", "body": body, "more_body": False}

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
            await app(scope, receive, send)
        finally:
            if waiting and not waiting[0].done():
                waiting[0].set_result(None)
        if not start:
            raise TransportError(
                f"{self._origin}{path}: the in-process application ended without answering")
        content = parts[0] if len(parts) == 1 else b"".join(parts)
        return PlugResponse(start[0]["status"], Headers(start[0].get("headers", [])), content,
                            url=self._origin + path)

    @asynccontextmanager
    async def stream(
        self, method: str = "GET", *, json: Any = NOT_GIVEN, content: bytes | str | None = None,
        accept: str = "text/event-stream",
    ) -> AsyncIterator[PlugResponse]:
        """``async with plug.stream() as resp: async for ev in resp.aiter_events(): ...``.

        Leaving the block closes the stream, which cancels the producer on the serving side.
        """
        headers, body, timeout = self._prepare(json, content)
        headers.append((b"accept", accept.encode()))
        app = _ALIASES.get(self._origin)
        if app is not None:
            async with _local_stream(app, method, self._path, self._query, headers, body,
                                     timeout, self.uri) as resp:
                yield resp
            return
        async with _remote_stream(self, method, headers, body, timeout) as resp:
            yield resp


# -- in-process dispatch ---------------------------------------------------------------------------


def _scope(
    method: str, path: str, query: tuple[tuple[str, str], ...], headers: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": unquote(path) or "/", "raw_path": path.encode(),
        "query_string": urlencode(query).encode() if query else b"", "root_path": "",
        "headers": headers, "client": None, "server": None,
    }


def _expired(url: str, timeout: float) -> DeadlineExceededError:
    return DeadlineExceededError(f"{url}: no answer within {timeout:.3g} s (in-process)")


_ASGI = {"version": "3.0"}


@asynccontextmanager
async def _local_stream(
    app: HostApp, method: str, path: str, query: tuple[tuple[str, str], ...],
    headers: list[tuple[bytes, bytes]], body: bytes, timeout: float, url: str,
) -> AsyncIterator[PlugResponse]:
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    gone = asyncio.Event()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(msg: Any) -> None:
        if not gone.is_set():
            await queue.put(msg)

    async def run() -> None:
        try:
            await app(_scope(method, path, query, headers), receive, send)
        finally:
            await queue.put(None)

    task = asyncio.get_running_loop().create_task(run())
    try:
        try:
            async with asyncio.timeout(timeout):
                start = await queue.get()
        except TimeoutError:
            raise _expired(url, timeout) from None
        if start is None:
            await task  # the app failed before answering: surface its exception
            raise TransportError(f"{url}: the in-process application ended without answering")

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                msg = await queue.get()
                if msg is None:
                    return
                yield msg.get("body", b"")
                if not msg.get("more_body", False):
                    return

        yield PlugResponse(start["status"], Headers(start.get("headers", [])), None, chunks(), url)
    finally:
        gone.set()
        try:
            await asyncio.wait_for(task, 5.0)
        except (asyncio.TimeoutError, Exception):  # noqa: UP041 - also wait_for's own
            task.cancel()


# -- network --------------------------------------------------------------------------------

_pool: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def shared_client() -> httpx.AsyncClient:
    """The pooled ``httpx.AsyncClient`` of the running event loop."""
    import httpx

    loop = asyncio.get_running_loop()
    client = _pool.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        _pool[loop] = client
    return client


async def close_shared_client() -> None:
    """Close this event loop's pooled client (tests and shutdown)."""
    client = _pool.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _failure(exc: Exception, method: str, url: str, timeout: float) -> CallError:
    return CallError.from_transport(exc, f"{method} {url}", timeout=timeout)


def _httpx_request(plug: Plug, method: str, headers: list[tuple[bytes, bytes]], body: bytes,
                   timeout: float) -> httpx.Request:
    client = plug._client or shared_client()
    import httpx

    return client.build_request(
        method, f"{plug._origin}{plug._path or '/'}", params=plug._query or None,
        headers=headers, content=body or None,
        timeout=httpx.Timeout(max(timeout, 0.001) + GRACE),
    )


async def _remote(
    plug: Plug, method: str, headers: list[tuple[bytes, bytes]], body: bytes, timeout: float
) -> PlugResponse:
    import httpx

    client = plug._client or shared_client()
    url = plug.uri
    if timeout <= 0:
        raise DeadlineExceededError(f"{method} {url}: the deadline passed before sending")
    try:
        req = _httpx_request(plug, method, headers, body, timeout)
        resp = await client.send(req)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        raise _failure(exc, method, url, timeout) from None
    return PlugResponse(resp.status_code, Headers(resp.headers.raw), resp.content, url=url)


@asynccontextmanager
async def _remote_stream(
    plug: Plug, method: str, headers: list[tuple[bytes, bytes]], body: bytes, timeout: float
) -> AsyncIterator[PlugResponse]:
    import httpx

    client = plug._client or shared_client()
    url = plug.uri
    try:
        req = _httpx_request(plug, method, headers, body, timeout)
        resp = await client.send(req, stream=True)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        raise _failure(exc, method, url, timeout) from None

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise _failure(exc, method, url, timeout) from None

    try:
        yield PlugResponse(resp.status_code, Headers(resp.headers.raw), None, chunks(), url)
    finally:
        await resp.aclose()
