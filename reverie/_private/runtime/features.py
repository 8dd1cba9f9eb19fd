"""Features over the runtime: an HTTP-shaped request carried to an instance's ASGI app on NATS.

Each served instance with features answers on one more runtime endpoint, ``rv-http`` (a name no
Python method can have), as a stream: the request is ``[method, path, query, headers, body,
internal]`` (``path`` below the instance's mount, percent-encoded as on the wire); the answer's
first item is ``[status, headers]``, then the body in pieces (bytes). It rides the runtime's
framing, credit, heartbeats, deadlines and cancellation, so a slow reader holds the producer
back and closing the response cancels the handler. The deadline travels as
``X-Reverie-Timeout`` exactly as over HTTP (the app answers 504); the runtime's own deadline is
``GRACE`` later, so that answer is heard first.

``internal`` marks a dependent's Plug: the serving host grants it its internal key (the runtime
is the deployment's trusted plane, as it is for RPC endpoints). A request forwarded from the
HTTP entry (``forward``) is not internal: the caller's own headers decide its access.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from reverie.errors import CallError, DeadlineExceededError, TransportError, ValidationError

from ..call.context import RequestContext
from ..http.plugtransport import GRACE, PlugTransport

if TYPE_CHECKING:
    from ..host.host import Host
    from ..host.instance import Instance
    from ..http.app import HostApp
    from ..http.plug import Plug
    from ..http.plugtransport import PlugRequest, PlugResponse
    from .calls import StreamCall
    from .client import EndpointRuntimeClient
    from .core import DistributedRuntime
    from .server import Served

__all__ = [
    "FEATURES_ENDPOINT",
    "RuntimeFeatures",
    "RuntimePlugTransport",
    "forward",
    "forward_graph",
    "runtime_plug",
    "serve_features",
]

log = logging.getLogger("reverie.http")

#: The runtime endpoint every instance with features answers on ('-': never a method name).
FEATURES_ENDPOINT = "rv-http"
#: Most bytes of body in one stream item (a NATS message is at most ~1 MB by default).
CHUNK = 256 * 1024
#: Room left in a runtime message for everything but a request's body.
_HEAD_ROOM = 64 * 1024
#: ASGI messages buffered between the app and the runtime stream before the app waits.
_PIPE_LIMIT = 16


class _Pipe:
    """ASGI ``send`` messages from the app's task to the stream producer, bounded."""

    __slots__ = ("closed", "items", "space", "waiter")

    def __init__(self) -> None:
        self.items: deque[MutableMapping[str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.space: asyncio.Future[None] | None = None
        self.closed = False

    @staticmethod
    def _wake(fut: asyncio.Future[None] | None) -> None:
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def put(self, msg: MutableMapping[str, Any]) -> None:
        while len(self.items) >= _PIPE_LIMIT and not self.closed:
            self.space = asyncio.get_running_loop().create_future()
            await self.space
        if not self.closed:
            self.items.append(msg)
            self._wake(self.waiter)

    def close(self) -> None:
        self.closed = True
        self._wake(self.waiter)
        self._wake(self.space)

    async def get(self) -> MutableMapping[str, Any] | None:
        while not self.items:
            if self.closed:
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        msg = self.items.popleft()
        self._wake(self.space)
        return msg


def _request_parts(request: Any) -> tuple[str, str, bytes, list[tuple[bytes, bytes]], bytes, bool]:
    try:
        method, path, query, headers, body, internal = request
        if not (
            isinstance(method, str)
            and isinstance(path, str)
            and isinstance(query, bytes)
            and isinstance(body, bytes)
        ):
            raise TypeError("method and path are strings, query and body bytes")
        pairs = [(bytes(k), bytes(v)) for k, v in headers]
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"malformed feature request: expected [method, path, query, headers, body, "
            f"internal] (see docs/runtime.md): {exc}"
        ) from None
    return method, path, query, pairs, body, bool(internal)


def _scope(
    method: str, raw: str, query: bytes, headers: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    """The ASGI scope of a feature request for ``raw`` (the path, percent-encoded)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw) if "%" in raw else raw,
        "raw_path": raw.encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": None,
        "server": None,
    }


def _answer(app: HostApp, mount: str) -> Any:
    """The ``rv-http`` handler of the instance mounted at ``mount``."""

    async def answer(request: Any, ctx: RequestContext) -> AsyncIterator[Any]:
        method, path, query, headers, body, internal = _request_parts(request)
        if internal and not any(k == b"authorization" for k, _ in headers):
            headers.append((b"authorization", f"Bearer {app.access.internal_key}".encode()))
        raw = f"/{mount}/{path}" if path else f"/{mount}"
        scope = _scope(method, raw, query, headers)
        pipe = _Pipe()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Future()  # the end of the call is this task's cancellation
            raise AssertionError("unreachable")

        # Closing the stream cancels the app's task directly: no disconnect watch needed.
        receive.reverie_local = True  # type: ignore[attr-defined]

        async def run() -> None:
            try:
                await app(scope, receive, pipe.put)
            finally:
                pipe.close()

        task = asyncio.get_running_loop().create_task(run())
        try:
            start = await pipe.get()
            if start is None:
                await task  # the app failed before answering: its exception ends the call
                raise TransportError(f"{method} {raw}: the application ended without answering")
            yield [start["status"], [[k, v] for k, v in start.get("headers", [])]]
            while (msg := await pipe.get()) is not None:
                piece = msg.get("body", b"")
                for at in range(0, len(piece), CHUNK):
                    yield piece[at : at + CHUNK]
                if not msg.get("more_body", False):
                    break
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return answer


async def serve_features(
    runtime: DistributedRuntime, app: HostApp, inst: Instance, ns: str, comp: str
) -> Served:
    """Answer ``inst``'s features on ``{ns}/{comp}/rv-http`` from this process."""
    endpoint = runtime.namespace(ns).component(comp).endpoint(FEATURES_ENDPOINT)
    return await endpoint.serve(
        _answer(app, inst.path), streaming=True, metadata={"kind": "features", "path": inst.path}
    )


class RuntimeFeatures:
    """The caller's side: HTTP-shaped requests to one component's features over the runtime."""

    def __init__(
        self, runtime: DistributedRuntime, ns: str, comp: str, *, internal: bool = True
    ) -> None:
        self.runtime = runtime
        self.origin = f"runtime://{ns}.{comp}"
        self.internal = internal
        self.client: EndpointRuntimeClient = (
            runtime.namespace(ns).component(comp).endpoint(FEATURES_ENDPOINT).client()
        )

    async def wait_for_workers(self, n: int = 1, timeout: float | None = 10.0) -> list[str]:
        return await self.client.wait_for_workers(n, timeout)

    def max_body(self) -> int:
        """The largest request body one runtime message carries: the server's ``max_payload``
        (1 MiB unless configured) less 64 KiB for the rest of the request."""
        max_payload = getattr(self.runtime.nc, "max_payload", 0) or (1 << 20)
        return int(max_payload) - _HEAD_ROOM

    async def open(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        deadline: float | None,
        request_id: str | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], StreamCall]:
        """Send; returns (status, headers, the open stream of body pieces). ``deadline``
        (absolute, ``time.monotonic()``) bounds the call on the runtime. Close the stream
        (``aclose()``) when done: that cancels the handler if it still runs."""
        limit = self.max_body()
        if len(body) > limit:
            raise TransportError(
                f"{method} {self.origin}{path}: the request body is {len(body)} bytes, over the "
                f"{limit} one runtime message carries (the NATS server's max_payload less room "
                f"for the headers); send less, or raise max_payload in the nats-server config",
                request_id=request_id,
            )
        request = [
            method,
            path.lstrip("/"),
            query,
            [[k, v] for k, v in headers],
            body,
            self.internal,
        ]
        stream = self.client.stream(request, RequestContext(request_id, deadline))
        try:
            status, raw = await stream.__anext__()
            return int(status), [(bytes(k), bytes(v)) for k, v in raw], stream
        except StopAsyncIteration:
            await stream.aclose()
            raise TransportError(
                f"{method} {self.origin}{path}: the stream ended before an answer",
                request_id=request_id,
            ) from None
        except BaseException:
            await stream.aclose()
            raise


async def forward(
    features: RuntimeFeatures,
    mount: str,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    max_body: int,
) -> None:
    """Answer an HTTP request for a service that runs in another process: carry it over the
    runtime to its instance (mounted at ``mount`` there too) and write back the same status,
    headers and body. A client that disconnects cancels the call, and so the handler."""
    from ..http.send import send_problem

    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > min(max_body, features.max_body()):
            from reverie.errors import ServiceError

            why = (
                "the host's limit"
                if max_body <= features.max_body()
                else "what one runtime message carries to the process serving it"
            )
            await send_problem(
                send,
                ServiceError(
                    413,
                    f"the request body is over {min(max_body, features.max_body())} bytes, {why}",
                ),
            )
            return
        chunks.append(chunk)
        if not msg.get("more_body", False):
            break
    raw = scope.get("raw_path") or scope["path"].encode()
    rest = raw.decode("latin-1").strip("/")[len(mount) :]  # percent-encoded, as it came
    headers = [(bytes(k), bytes(v)) for k, v in scope["headers"]]
    task = asyncio.current_task()
    assert task is not None

    async def watch() -> None:  # the caller left: stop the call
        while (await receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    stream: Any = None
    try:
        try:
            status, head, stream = await features.open(
                scope["method"],
                rest,
                scope.get("query_string", b""),
                headers,
                b"".join(chunks),
                None,
            )  # the serving app enforces X-Reverie-Timeout
        except CallError as err:
            await send_problem(send, err)
            return
        await send({"type": "http.response.start", "status": status, "headers": head})
        try:
            async for piece in stream:
                await send({"type": "http.response.body", "body": bytes(piece), "more_body": True})
        except CallError as err:  # the answer had started: end it; the log says why
            log.error(
                "%s %s: forwarded over the runtime, failed mid-body: %s",
                scope["method"],
                scope["path"],
                err,
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            task.uncancel()  # the client went away: nothing to answer
            return
        raise
    finally:
        watcher.cancel()
        if stream is not None:
            await stream.aclose()


def forward_graph(host: Host, entry: type, runtime: DistributedRuntime) -> dict[str, str]:
    """Mount, in this host's HTTP application, every service of ``entry``'s graph that runs in
    another process: its requests are carried to it over the runtime, where its own host applies
    exposure and access as it would here. Returns {service: path} of those the deployment
    exposes (the start-up table and ``ready`` status show them)."""
    from functools import partial

    from ..config.service_args import is_exposed, resolve_service_args
    from ..http.attach import attach_http, http_layer
    from .attach import runtime_address

    app = attach_http(host)
    http = http_layer(host)
    shown: dict[str, str] = {}
    for meta in host.graph(entry).metas():
        mount = host.mount_path(meta).strip("/")
        if mount in host.instances or (http is not None and http.elsewhere(meta)):
            continue  # runs here, or at an HTTP URL of its own
        ns, comp = runtime_address(host, meta)
        features = RuntimeFeatures(runtime, ns, comp, internal=False)
        app.forwards[mount] = partial(_forward_to, features, mount, app)
        if is_exposed(resolve_service_args(meta, host.deployment), meta.cls is entry):
            shown[meta.name] = mount
            app.expose(mount)
    return shown


async def _forward_to(
    features: RuntimeFeatures, mount: str, app: HostApp, scope: Any, receive: Any, send: Any
) -> None:
    await forward(features, mount, scope, receive, send, app.max_body_size)


class RuntimePlugTransport(PlugTransport):
    """The Plug transport of features over the runtime: a dependency in another process."""

    def __init__(self, features: RuntimeFeatures) -> None:
        self.features = features

    def describe(self) -> str:
        return f"features over the runtime at {self.features.origin}"

    async def send(self, request: PlugRequest, *, stream: bool = False) -> PlugResponse:
        from urllib.parse import urlencode

        from ..http.plugtransport import Headers, PlugResponse, context_headers

        ctx = request.context
        deadline = ctx.deadline
        if deadline is not None and deadline <= time.monotonic():
            raise DeadlineExceededError(
                f"{request.method} {request.url}: the deadline passed before sending",
                request_id=ctx.request_id,
            )
        query = urlencode(request.query).encode() if request.query else b""
        # A stream has no runtime deadline (as httpx bounds each read, not the whole body):
        # the app enforces X-Reverie-Timeout and heartbeats notice a lost worker.
        status, raw, body = await self.features.open(
            request.method,
            request.path,
            query,
            context_headers(request),
            request.body,
            None if stream or deadline is None else deadline + GRACE,
            ctx.request_id,
        )
        if stream:

            async def chunks() -> AsyncIterator[bytes]:
                async for piece in body:
                    yield bytes(piece)

            return PlugResponse(status, Headers(raw), None, chunks(), request.url, body.aclose)
        try:
            parts = [bytes(p) async for p in body]
        finally:
            await body.aclose()
        content = parts[0] if len(parts) == 1 else b"".join(parts)
        return PlugResponse(status, Headers(raw), content, url=request.url)


def runtime_plug(runtime: DistributedRuntime, ns: str, comp: str) -> Plug:
    """A dependent's Plug at ``ns/comp``'s features over the runtime (granted internal access)."""
    from ..http.plug import Plug

    features = RuntimeFeatures(runtime, ns, comp)
    return Plug(features.origin, transport=RuntimePlugTransport(features))
