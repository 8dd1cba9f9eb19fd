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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reverie.errors import (
    CallError,
)

from ..call import tracing as _tracing
from ..call.context import CURRENT, fresh_context
from ..call.failures import log_failure
from ..transports.codec import json_encode
from .access import AccessPolicy
from .answer import PLAIN, Receive, Scope
from .disconnect import SERVER_WATCHES, DisconnectWatch
from .head import CONTEXT_HEADERS, CONTEXT_SEEN, BodyTimeoutError, context_of
from .limits import HttpLimits
from .routing import FastPath, Routing
from .send import Send, send_problem
from .streams import under_deadline

if TYPE_CHECKING:
    from ..host.host import Host
    from ..host.instance import Instance
    from .plug import Plug

__all__ = ["DEFAULT_MAX_BODY", "BodyTimeoutError", "HostApp", "app_for"]

log = logging.getLogger("reverie.http")


DEFAULT_MAX_BODY = 10 * 1024 * 1024
_CONTENT_JSON = (b"content-type", b"application/json")
_NLENGTHS = 4096
_LENGTHS = [(b"content-length", str(n).encode()) for n in range(_NLENGTHS)]


class HostApp(Routing):
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
        #: {request path: FastPath} for GET of a plain public feature, resolved once (see
        #: ``__call__``); cleared when mounts, exposure or limits change.
        self._fast: dict[str, FastPath] = {}
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
                state = scope.get("state")
                by_server = state is not None and state.get(SERVER_WATCHES) is self.watch
                # by_server: Reverie's own server, which cancels the request if its connection
                # closes early and says whether the request carries context headers.
                rid = timeout = trace = None  # Head(...).context(), inline: one test a header
                for k, v in () if by_server and CONTEXT_SEEN not in scope else scope["headers"]:
                    if k in CONTEXT_HEADERS:
                        if k == b"x-request-id":
                            rid = v.decode("latin-1")
                        elif k == b"x-reverie-timeout":
                            timeout = v
                        else:
                            trace = v.decode("latin-1")
                if timeout is None and trace is None:
                    ctx = fresh_context()  # RequestContext(rid) without running __init__
                    if rid is not None:
                        ctx._request_id = rid
                else:
                    try:
                        ctx = context_of(rid, timeout, trace)
                    except CallError as err:
                        await send_problem(send, err)
                        return
                watch = None if by_server else self.watch.enter_socket(receive)
            else:
                by_server = False
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
                    if self.watch.gone(asyncio.current_task() if by_server else watch):
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
                    if by_server:
                        # uvicorn runs each request in a task of its own, in a copy of the
                        # context: nothing after this request sees CURRENT, so no reset.
                        if self.watch.watched:
                            self.watch.leave(asyncio.current_task())
                    else:
                        CURRENT.reset(token)
                if type(result) in PLAIN:
                    try:
                        body = json_encode(result)
                    except TypeError:  # a value inside the dict or list: _answer says so
                        pass
                    else:
                        size = len(body)
                        await send(
                            {
                                "type": "http.response.start",
                                "status": 200,
                                "headers": [
                                    _CONTENT_JSON,
                                    _LENGTHS[size]
                                    if size < _NLENGTHS
                                    else (b"content-length", str(size).encode()),
                                ],
                            }
                        )
                        await send({"type": "http.response.body", "body": body})
                        return
                await self._answer(receive, send, result, ctx, False, fast.svc, fast.method)
            finally:
                inst.inflight -= 1
        except asyncio.CancelledError:
            # The server cancelled a request whose client left outside a handler's watched
            # span (reading its body, say): nobody to answer, nothing to log.
            task = asyncio.current_task()
            if task is None or not self.watch.gone(task):
                raise
            self.watch.leave(task)
        except Exception as exc:
            await self._failed(scope, send, exc)


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
