"""The host's ASGI application: every running instance mounted at its path.

``/<path>/<feature…>`` runs a feature, ``POST /<path>/<endpoint>`` an endpoint, ``/<path>/@about``
and friends are built in; ``/@host/…``, ``/health/…``, ``/openapi.json`` and ``/docs`` belong to
the host. The request context travels in headers (``X-Request-Id``, ``X-Reverie-Timeout`` in
remaining seconds, ``traceparent``) and is current while the handler runs, under its deadline.
The hot path (a GET feature with no parameters) is a few dict lookups and two ``send`` calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reverie.errors import (
    AccessDeniedError,
    CallError,
    EndpointNotFoundError,
    ServiceError,
    UnavailableError,
)

from ..call import tracing as _tracing
from ..call.client import result_check
from ..call.context import CURRENT, RequestContext
from ..call.failures import log_failure
from ..declare.config_key import REQUIRED
from ..markers import NOT_GIVEN
from ..transports.codec import json_decode, json_encode
from .access import AccessPolicy
from .disconnect import DisconnectWatch
from .head import CONTEXT_HEADERS, BodyTimeoutError, Head, TooLarge, context_of
from .limits import HttpLimits
from .params import bad_json, build_kwargs
from .request import Request
from .response import Response, StreamingResponse
from .routes import BUILTINS, Match, Route, allow_header, routes_for
from .send import Send, send_bytes, send_problem, sse
from .streams import pump_items, pump_raw, under_deadline, until_disconnect

if TYPE_CHECKING:
    from ..host.host import Host
    from ..host.instance import Instance
    from .plug import Plug

__all__ = ["DEFAULT_MAX_BODY", "BodyTimeoutError", "HostApp", "app_for"]

log = logging.getLogger("reverie.http")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

DEFAULT_MAX_BODY = 10 * 1024 * 1024
_PLAIN = frozenset({str, int, float, bool, dict, list, type(None)})
_HOST_PATHS = frozenset({"@host", "health", "openapi.json", "docs", "metrics"})
_PUBLIC = ("", "public")
_BODY_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_JSON_HEADERS = b"application/json"
_NDJSON = b"application/x-ndjson"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_NDJSON_HEADERS = [(b"content-type", _NDJSON), (b"cache-control", b"no-cache")]


class _Fast:
    """A resolved GET path: the instance, its plain public feature and the concurrency limit."""

    __slots__ = ("inst", "limit", "method", "name", "svc")

    def __init__(self, inst: Instance, route: Route, limit: int | None) -> None:
        self.inst = inst
        self.name = route.name
        self.method = route.method
        self.svc = inst.meta.name
        self.limit = limit


_FAST_MAX = 4096  # resolved paths kept (bounded: paths come from clients)
_CONTENT_JSON = (b"content-type", b"application/json")
_NLENGTHS = 4096
_LENGTHS = [(b"content-length", str(n).encode()) for n in range(_NLENGTHS)]

_CLOSE = [(b"connection", b"close")]


def _mount_in(mounts: Mapping[str, Any], stripped: str) -> str | None:
    """The longest mount path ``stripped`` lies under, or None."""
    found = None
    for m in mounts:
        if (stripped == m or stripped.startswith(m + "/")) and (found is None
                                                              or len(m) > len(found)):
            found = m
    return found


class HostApp:
    """The ASGI application of one host. Get it with ``attach_http(host)``.

    It owns the host's aliases (``origins``: ``local://<host name>``, later its bound and
    public URLs) and the ``HostTransport`` that sends Plugs to them in-process: ``plug(uri)``
    and ``plug_for`` (clients' ``.plug``) make Plugs on it, and every call it serves carries it
    in its context, so a Plug built from a URL string in a handler takes it too.
    """

    def __init__(
        self,
        host: Host,
        *,
        access: AccessPolicy | None = None,
        max_body_size: int = DEFAULT_MAX_BODY,
        limits: HttpLimits | None = None,
    ) -> None:
        from .management import Management
        from .plugasgi import HostTransport

        self.host = host
        self.access = access or AccessPolicy(env=host.env)
        self.max_body_size = max_body_size
        self._max_concurrent: dict[str, int | None] = {}
        #: Per endpoint: the declared-result check run before an answer is serialized (None
        #: when the result is untyped), so a plain HTTP caller gets the same InvalidResultError
        #: a Reverie client raises.
        self._checks: dict[int, tuple[Any, Callable[[Any], Any] | None]] = {}
        #: {request path: _Fast} for GET of a plain public feature, resolved once (see
        #: ``__call__``); cleared when mounts, exposure or limits change.
        self._fast: dict[str, _Fast] = {}
        host.instances.caches.append(self._fast)
        self._limits = limits or HttpLimits()
        self.management = Management(self)
        self.aliases: list[str] = []
        self.watch = DisconnectWatch()  # a client that goes away cancels its handler
        self._exposed: set[str] | None = None
        #: {mount path: ASGI callable} of services running in another process: a request under
        #: one is carried to it over the runtime (``forward_graph``, ``reverie serve
        #: --processes``), so every mode has the same HTTP surface.
        self.forwards: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {}
        self.local_alias = f"local://{host.name}"
        #: Origins (``scheme://host:port``, lower case) that are this host: Plugs on its
        #: transport reach them in-process.
        self.origins: set[str] = {self.local_alias.lower()}
        self.transport = HostTransport(self)

    @property
    def exposed(self) -> set[str] | None:
        """Mount paths served publicly; None: every instance (a bare host). ``reverie serve``
        sets it from the deployment (``expose_graph``); other paths need a host key. Assign a
        new set (or call ``expose``) to change it: resolved paths are cached."""
        return self._exposed

    @exposed.setter
    def exposed(self, paths: set[str] | None) -> None:
        self._exposed = None if paths is None else set(paths)
        self._fast.clear()

    def expose(self, path: str) -> None:
        """Serve the instance at ``path`` publicly too (when exposure is restricted)."""
        if self._exposed is not None:
            self._exposed.add(path)
            self._fast.clear()

    @property
    def limits(self) -> HttpLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: HttpLimits) -> None:
        self._limits = limits
        self._max_concurrent.clear()
        self._fast.clear()

    def add_alias(self, base_url: str) -> None:
        """Treat ``base_url`` (``http://127.0.0.1:8000``) as this host: Plugs dispatch locally."""
        parts = urlsplit(base_url)
        self.origins.add(f"{parts.scheme}://{parts.netloc}".lower())
        self.aliases.append(base_url.rstrip("/"))

    def close(self) -> None:
        """Forget the bound and public aliases (the server stopped); ``local://`` stays."""
        self.origins = {self.local_alias.lower()}
        self.aliases.clear()

    def plug(self, uri: str) -> Plug:
        """A Plug from a URI string on this host's transport: its own origins in-process."""
        from .plug import Plug

        return Plug(uri, transport=self.transport)

    def plug_for(self, inst: Instance) -> Plug:
        """A Plug rooted at an instance's features, carrying the internal key."""
        return self.plug(f"{self.local_alias}/{inst.path}").with_header(
            "Authorization", f"Bearer {self.access.internal_key}"
        )

    # -- ASGI ------------------------------------------------------------------------------------

    # long: the HTTP hot path; each step split out is a call per request (bench/bench_http.py)
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:  # free until something raises (zero-cost exceptions): no extra frame per request
            if scope["type"] != "http":
                if scope["type"] == "lifespan":
                    await _lifespan(receive, send)
                return
            # The fast path: a GET of a path already resolved to a plain public feature of a
            # running, exposed instance. The same steps as below, without the resolving.
            fast = self._fast.get(scope["path"]) if scope["method"] == "GET" else None
            if fast is None or _tracing.ON:
                await self._route(scope, receive, send)
                return
            inst = fast.inst
            if not inst.accepting or (fast.limit is not None and inst.inflight >= fast.limit):
                await self._route(scope, receive, send)  # held, stopping or at its limit
                return
            inst.requests[fast.name] += 1  # counted once by the resolving path: a key
            ctx = scope.get("reverie.context")  # an in-process Plug passes it
            if ctx is None:
                rid = timeout = trace = None  # Head(...).context(), inline: one test a header
                for k, v in scope["headers"]:
                    if k in CONTEXT_HEADERS:
                        if k == b"x-request-id":
                            rid = v.decode("latin-1")
                        elif k == b"x-reverie-timeout":
                            timeout = v
                        else:
                            trace = v.decode("latin-1")
                if timeout is None and trace is None:
                    ctx = RequestContext(rid)
                else:
                    try:
                        ctx = context_of(rid, timeout, trace)
                    except CallError as err:
                        await send_problem(send, err)
                        return
                watch = self.watch.enter_socket(receive)
            else:
                watch = self.watch.enter(receive)
            ctx.plugs = self.transport  # a Plug from a URL string in the handler: this host's
            inst.inflight += 1
            try:
                token = CURRENT.set(ctx)
                try:
                    if ctx.deadline is None:
                        result = await getattr(inst.obj, fast.method)()
                    else:
                        result = await under_deadline(getattr(inst.obj, fast.method)(), ctx)
                except asyncio.CancelledError:
                    if self.watch.gone(watch):
                        return  # the client left: the handler is cancelled, nobody to answer
                    raise
                except Exception as exc:
                    log_failure(exc, fast.svc, fast.method, ctx.request_id)
                    await send_problem(send, CallError.from_handler(exc, ctx.request_id))
                    return
                finally:
                    if watch is not None:  # watch.leave(watch), inline
                        self.watch.running.pop(watch, None)
                        if self.watch.watched:
                            self.watch.leave_watched(watch)
                    CURRENT.reset(token)
                if type(result) in _PLAIN:
                    try:
                        body = json_encode(result)
                    except TypeError:  # a value inside the dict or list: _answer says so
                        pass
                    else:
                        size = len(body)
                        await send({"type": "http.response.start", "status": 200, "headers": [
                            _CONTENT_JSON, _LENGTHS[size] if size < _NLENGTHS else
                            (b"content-length", str(size).encode())]})
                        await send({"type": "http.response.body", "body": body})
                        return
                await self._answer(receive, send, result, ctx, False, fast.svc, fast.method)
            finally:
                inst.inflight -= 1
        except Exception as exc:
            await self._failed(scope, send, exc)

    async def _failed(self, scope: Scope, send: Send, exc: Exception) -> None:
        # A failure outside any handler (a bug, an answer that cannot be written): the
        # operator gets the traceback, the client a problem body, never uvicorn's text/plain.
        log.error("%s %s failed in the host: %s: %s", scope.get("method"), scope.get("path"),
                  type(exc).__name__, exc, exc_info=exc)
        try:
            await send_problem(send, ServiceError(
                500, f"the host failed while answering: {type(exc).__name__}: {exc}"))
        except Exception:  # the answer had already started: nothing more to say
            pass

    # long: a request's steps in order, once per request, without a frame for each (bench_http)
    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Resolve and answer a request: host paths, the instance, its route, access, state,
        limits, then the handler. Remembers plain GET features for the fast path."""
        try:
            method: str = scope["method"]
            stripped: str = scope["path"].strip("/")
            first, _, _ = stripped.partition("/")
            if first in _HOST_PATHS:
                await self.management.host_request(scope, receive, send, method, stripped)
                return
            instances = self.host.instances  # one lookup unless a mount below `first` exists
            nested = first in instances.nested
            inst = self._instance(stripped) if nested else instances.get(first)
            if inst is None and self.forwards:
                mount = _mount_in(self.forwards, stripped)
                if mount is not None and self._reaches(scope, method, stripped, mount):
                    await self.forwards[mount](scope, receive, send)
                    return
            if inst is None and first in self.host.stopped:
                await send_problem(send, UnavailableError(
                    f"instance {first!r} is stopped, not running",
                    service=self.host.stopped[first]))
                return
            exposed = self.exposed
            if inst is not None and exposed is not None and inst.path not in exposed and (
                    not self._reaches(scope, method, stripped, inst.path)):
                inst = None  # not exposed: only its dependents (and the operator) reach it
            if inst is None:
                shown = sorted(p for p in [*self.host.instances, *self.forwards]
                               if exposed is None or p in exposed)  # same in every mode
                await send_problem(send, EndpointNotFoundError(
                    f"no service is mounted at /{first}; mounted: "
                    f"{', '.join('/' + p for p in shown) or 'none'}"
                ))
                return
            rest = stripped[len(inst.path) + 1:]
            table = inst.routes
            if table is None:
                table = inst.routes = routes_for(inst.meta)
            found = table.match(method, rest)
            if type(found) is not Match:
                await self._no_route(send, method, inst, rest, found)  # type: ignore[arg-type]
                return
            route = found.route
            head = Head(scope["headers"])
            if route.access != "public":
                denied = self.access.check(route.access, head.auth)
                if denied is not None:
                    await send_problem(send, AccessDeniedError(
                        denied[1], status=denied[0], service=inst.meta.name, endpoint=route.name
                    ), [(b"www-authenticate", b"Bearer")] if denied[0] == 401 else None)
                    return
            inst.requests[route.name] = inst.requests.get(route.name, 0) + 1
            if route.kind == "builtin":
                await self.management.builtin(scope, receive, send, inst, route, head)
                return
            if not inst.accepting:
                if inst.hold is not None or inst.forward is not None:
                    from ..state.http import held_request  # a capture, swap or migration

                    await held_request(self, scope, receive, send, inst, route, head)
                    return
                await send_problem(send, UnavailableError(
                    f"instance {inst.path!r} is {inst.state}, not running",
                    service=inst.meta.name, endpoint=route.name,
                ))
                return
            limit = self._max_concurrent.get(inst.meta.name, NOT_GIVEN)
            if limit is NOT_GIVEN:
                limit = self._max_concurrent[inst.meta.name] = self._limit_for(inst)
            if limit is not None and inst.inflight >= limit:
                retry = self.limits.retry_after
                await send_problem(send, UnavailableError(
                    f"{inst.meta.name} (at /{inst.path}) is running {limit} requests, its limit "
                    f"(max_concurrent); retry after {retry} s",
                    service=inst.meta.name, endpoint=route.name,
                ), [(b"retry-after", str(retry).encode())])
                return
            ctx = scope.get("reverie.context")  # an in-process Plug passes it
            if ctx is None:
                try:
                    ctx = head.context()
                except CallError as err:
                    await send_problem(send, err)
                    return
            ctx.plugs = self.transport  # a Plug from a URL string in the handler: this host's
            if (method == "GET" and route.plain and found is route.exact
                    and route.access == "public" and (exposed is None or inst.path in exposed)
                    and scope["path"] == "/" + stripped):  # one key per canonical path
                if len(self._fast) >= _FAST_MAX:
                    self._fast.clear()
                self._fast[scope["path"]] = _Fast(inst, route, limit)
            inst.inflight += 1
            try:
                if route.plain and method not in _BODY_VERBS:  # inline: one frame less
                    await self._unary(receive, send, ctx, getattr(inst.obj, route.method), (),
                                      {}, method == "HEAD", inst.meta.name, route.method)
                else:
                    await self._run(scope, receive, send, method, inst, found, head, ctx)
            finally:
                inst.inflight -= 1
        except Exception as exc:
            await self._failed(scope, send, exc)

    def _limit_for(self, inst: Instance) -> int | None:
        """A service's ``ServiceArgs: max_concurrent``, else the host's ``max_concurrent``."""
        dep = self.host.deployment
        section = dep.section(inst.meta.name) if dep is not None else None
        if section is not None and section.max_concurrent is not None:
            return int(section.max_concurrent.value)
        return self.limits.max_concurrent

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, method: str, inst: Instance,
        found: Match, head: Head, ctx: RequestContext,
    ) -> None:
        route = found.route
        try:
            body = b""
            if method in _BODY_VERBS and (
                route.kind == "endpoint" or route.args is None or route.args.needs_body
                or route.args.needs_request
            ):
                body = await self.read_body(receive, head)
            if route.kind == "endpoint":
                await self._endpoint(scope, receive, send, inst, route, head, ctx, body)
            else:
                await self._feature(scope, receive, send, inst, found, head, ctx, body)
        except BodyTimeoutError as err:
            await send_problem(send, err, _CLOSE)
        except CallError as err:
            await send_problem(send, CallError.from_handler(err, ctx.request_id))
        except TooLarge:
            await send_problem(send, ServiceError(
                413, f"the request body exceeds this host's limit of {self.max_body_size} bytes"
            ))

    def _reaches(self, scope: Scope, method: str, stripped: str, mount: str) -> bool:
        """Whether a request may reach the service mounted at ``mount``: it is exposed, or the
        caller holds a host key, or it asks for an operator built-in (internal or private),
        which answers by its own access level."""
        exposed = self.exposed
        return exposed is None or mount in exposed or (
            BUILTINS.get((method, stripped[len(mount) + 1:]), _PUBLIC)[1] != "public"
            or self.access.check("internal", Head(scope["headers"]).auth) is None)

    def _instance(self, stripped: str) -> Instance | None:
        instances = self.host.instances
        # Longest mount path first (a mount may contain '/'); at most four segments deep.
        cut = -1
        for _ in range(4):
            nxt = stripped.find("/", cut + 1)
            if nxt < 0:
                cut = len(stripped)
                break
            cut = nxt
        while True:
            inst = instances.get(stripped[:cut])
            if inst is not None:
                return inst
            cut = stripped.rfind("/", 0, cut)
            if cut <= 0:
                return None

    async def _no_route(
        self, send: Send, method: str, inst: Instance, rest: str, allowed: set[str]
    ) -> None:
        if not allowed:
            await send_problem(send, EndpointNotFoundError(
                f"{inst.meta.name} (at /{inst.path}) has no feature or endpoint at /{rest}",
                service=inst.meta.name,
            ))
            return
        allow = allow_header(allowed).encode()
        if method == "OPTIONS":
            await send_bytes(send, 204, b"", None, [(b"allow", allow)])
            return
        await send_problem(send, ServiceError(
            405, f"/{inst.path}/{rest} does not answer {method}; it answers {allow.decode()}"
        ), [(b"allow", allow)])

    async def read_json(
        self, receive: Receive, head: Head, *, empty: Any = None, what: str = "the request body"
    ) -> Any:
        """The body as JSON (``empty`` when there is none): a 413 ``ServiceError`` when it is
        too large, a 400 when it is not JSON; other call errors (the body timeout) as they are."""
        try:
            body = await self.read_body(receive, head)
            return json_decode(body) if body.strip() else empty
        except TooLarge:
            raise ServiceError(413, f"{what} is too large") from None
        except CallError:
            raise
        except Exception as exc:
            raise ServiceError(400, f"{what} is not valid JSON: {exc}") from None

    async def read_body(self, receive: Receive, head: Head) -> bytes:
        """The whole body, within ``max_body_size`` (``TooLarge``) and ``body_timeout``
        (``BodyTimeoutError``)."""
        seconds = self.limits.body_timeout
        if seconds is None:
            return await self._read_body(receive, head)
        try:
            async with asyncio.timeout(seconds):
                return await self._read_body(receive, head)
        except TimeoutError:
            raise BodyTimeoutError(seconds) from None

    async def _read_body(self, receive: Receive, head: Head) -> bytes:
        limit = self.max_body_size
        if head.length is not None:
            try:
                if int(head.length) > limit:
                    raise TooLarge
            except ValueError:
                pass
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # -- endpoints and features ------------------------------------------------------------------

    async def _endpoint(
        self, scope: Scope, receive: Receive, send: Send, inst: Instance, route: Route,
        head: Head, ctx: RequestContext, body: bytes,
    ) -> None:
        ep = route.endpoint
        assert ep is not None
        fn = inst.handlers[ep.name]
        if ctx.deadline is None and ep.timeout is not None:
            ctx.deadline = time.monotonic() + ep.timeout  # the endpoint's default deadline
        args: tuple[Any, ...] = ()
        if ep.request_param is not None:
            try:
                value = json_decode(body) if body.strip() else ep.missing_request()
            except Exception as exc:
                raise bad_json(exc) from None
            if value is REQUIRED:
                value = None  # validation names the type the request needs
            args = (ep.request_info.validate(value),)
        found = self._checks.get(id(ep))
        if found is None or found[0] is not ep:
            found = self._checks[id(ep)] = (ep, result_check(inst.meta, ep))
        check = found[1]
        if ep.streaming:
            await self._stream(receive, send, head, ctx, fn, args, {}, inst.meta.name, ep.name,
                               check)
        else:
            await self._unary(receive, send, ctx, fn, args, {}, False, inst.meta.name, ep.name,
                              check)

    async def _feature(
        self, scope: Scope, receive: Receive, send: Send, inst: Instance, found: Match,
        head: Head, ctx: RequestContext, body: bytes,
    ) -> None:
        route = found.route
        args = route.args
        assert args is not None
        kwargs: dict[str, Any] = {}
        if args.params:
            extra: dict[str, Any] = {"context": ctx}
            if args.needs_request:
                headers = {
                    k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                    if k != b"authorization"
                }
                extra["request"] = Request(
                    scope["method"], scope["path"], scope.get("query_string", b""), headers, body
                )
            try:
                kwargs = build_kwargs(
                    args, found.params, found.suffix, scope.get("query_string", b""), body, extra
                )
            except CallError as err:
                err.service, err.endpoint = inst.meta.name, route.method
                raise
        fn = getattr(inst.obj, route.method)
        if route.streaming:
            await self._stream(receive, send, head, ctx, fn, (), kwargs, inst.meta.name,
                               route.method)
        else:
            await self._unary(receive, send, ctx, fn, (), kwargs, scope["method"] == "HEAD",
                              inst.meta.name, route.method)

    async def _unary(
        self, receive: Receive, send: Send, ctx: RequestContext, fn: Callable[..., Any],
        args: tuple[Any, ...], kwargs: dict[str, Any], head_only: bool = False,
        svc: str | None = None, name: str | None = None,
        check: Callable[[Any], Any] | None = None,
    ) -> None:
        """Run a unary handler and answer; ``check`` (endpoints) is the declared-result rule."""
        span = None
        if _tracing.ON:
            span, ctx = _tracing.server_span(ctx, svc, name, "http", svc)
        token = CURRENT.set(ctx)
        watch = self.watch.enter(receive)
        try:
            if ctx.deadline is None:
                result = await fn(*args, **kwargs)
            else:
                result = await under_deadline(fn(*args, **kwargs), ctx)
            if check is not None:
                result = check(result)
        except asyncio.CancelledError:
            if self.watch.gone(watch):
                return  # the client left: the handler is cancelled, nobody to answer
            raise
        except Exception as exc:
            if span is not None:
                _tracing.end(span, exc)
                span = None
            log_failure(exc, svc, name, ctx.request_id)
            await send_problem(send, CallError.from_handler(exc, ctx.request_id))
            return
        finally:
            self.watch.leave(watch)
            CURRENT.reset(token)
            if span is not None:
                _tracing.end(span)
        if type(result) in _PLAIN and not head_only:
            try:
                body = json_encode(result)
            except TypeError:  # a value inside the dict or list: answered by _answer below
                pass
            else:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", _JSON_HEADERS),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self._answer(receive, send, result, ctx, head_only, svc, name)

    async def _answer(
        self, receive: Receive, send: Send, result: Any, ctx: RequestContext, head_only: bool,
        svc: str | None = None, name: str | None = None,
    ) -> None:
        if isinstance(result, Response):
            await send({"type": "http.response.start", "status": result.status,
                        "headers": result.raw_headers()})
            await send({"type": "http.response.body", "body": b"" if head_only else result.body})
            return
        if isinstance(result, StreamingResponse):
            await send({"type": "http.response.start", "status": result.status,
                        "headers": result.raw_headers()})
            if head_only:
                await send({"type": "http.response.body", "body": b""})
                return
            await until_disconnect(receive, pump_raw(send, result))
            return
        try:
            body = json_encode(result)
        except TypeError as exc:
            err = TypeError(f"the result of {svc}.{name} cannot be sent as JSON "
                            f"({type(result).__name__}): {exc}")
            err.__traceback__ = exc.__traceback__
            log_failure(err, svc, name, ctx.request_id, "serialization of")
            await send_problem(send, CallError.from_handler(err, ctx.request_id))
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", _JSON_HEADERS), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if head_only else body})

    async def _stream(
        self, receive: Receive, send: Send, head: Head, ctx: RequestContext,
        fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
        svc: str | None = None, name: str | None = None,
        check: Callable[[Any], Any] | None = None,
    ) -> None:
        """An async generator's items as SSE (default) or NDJSON (``Accept: application/x-ndjson``).

        An error before the first item is an HTTP status with a problem body; after it, an
        ``error`` event (SSE) or ``{"@error": …}`` line (NDJSON) ends the stream. A client
        disconnect cancels the producer.
        """
        ndjson = _NDJSON in head.accept
        span = None
        if _tracing.ON:
            span, ctx = _tracing.server_span(ctx, svc, name, "http", svc)
        token = CURRENT.set(ctx)
        gen: Any = None
        try:
            gen = fn(*args, **kwargs)
            step = gen.__anext__
            watch = self.watch.enter(receive)
            try:
                first: Any = await (step() if ctx.deadline is None
                                    else under_deadline(step(), ctx))
                if check is not None:
                    first = check(first)
                empty = False
            except StopAsyncIteration:
                empty = True
            except asyncio.CancelledError:
                if self.watch.gone(watch):
                    return  # the client left before the first item; the producer is closed
                raise
            except Exception as exc:
                if span is not None:
                    _tracing.end(span, exc)
                    span = None
                log_failure(exc, svc, name, ctx.request_id, "stream")
                await send_problem(send, CallError.from_handler(exc, ctx.request_id))
                return
            finally:
                self.watch.leave(watch)
            await send({"type": "http.response.start", "status": 200,
                        "headers": _NDJSON_HEADERS if ndjson else _SSE_HEADERS})
            if not empty:
                sent, failed = await pump_items(receive, send, ctx, first, step, ndjson, svc,
                                                 name, check)
                if span is not None:  # the stream's server span: its items, how it ended
                    _tracing.end(span, failed, sent)
                    span = None
            else:
                await send({"type": "http.response.body",
                            "body": b"" if ndjson else sse(b"null", b"end")})
        finally:
            if gen is not None:
                try:
                    await gen.aclose()
                except Exception:  # pragma: no cover - a producer failing while closing
                    log.exception("closing a stream producer")
            CURRENT.reset(token)
            if span is not None:
                _tracing.end(span)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def app_for(host: Host, **kw: Any) -> HostApp:
    """The host's ASGI application (one per host; made on first use): ``attach_http``."""
    from .attach import attach_http

    return attach_http(host, **kw)


