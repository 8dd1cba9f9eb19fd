"""Routing a request to an instance: host paths, the mount, the route, exposure and access,
the instance's state and limits; plain GET features are remembered for the fast path."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from reverie.errors import (
    AccessDeniedError,
    CallError,
    EndpointNotFoundError,
    ServiceError,
    UnavailableError,
)

from ..call.context import RequestContext
from ..markers import NOT_GIVEN
from .access import AccessPolicy
from .answer import Answering, Receive, Scope
from .head import BodyTimeoutError, Head, TooLarge
from .limits import HttpLimits
from .routes import BUILTINS, Match, Route, allow_header, routes_for
from .send import Send, send_bytes, send_problem

if TYPE_CHECKING:
    from ..host.host import Host
    from ..host.instance import Instance
    from .app import HostApp
    from .management import Management
    from .plugasgi import HostTransport

__all__ = ["CLOSE", "FastPath", "Routing"]

log = logging.getLogger("reverie.http")

_HOST_PATHS = frozenset({"@host", "health", "openapi.json", "docs", "metrics"})
_PUBLIC = ("", "public")
_BODY_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FastPath:
    """A resolved GET path: the instance, its plain public feature and the concurrency limit."""

    __slots__ = ("inst", "limit", "method", "name", "svc")

    def __init__(self, inst: Instance, route: Route, limit: int | None) -> None:
        self.inst = inst
        self.name = route.name
        self.method = route.method
        self.svc = inst.meta.name
        self.limit = limit


_FAST_MAX = 4096  # resolved paths kept (bounded: paths come from clients)
CLOSE = [(b"connection", b"close")]


def _mount_in(mounts: Mapping[str, Any], stripped: str) -> str | None:
    """The longest mount path ``stripped`` lies under, or None."""
    found = None
    for m in mounts:
        if (stripped == m or stripped.startswith(m + "/")) and (
            found is None or len(m) > len(found)
        ):
            found = m
    return found


class Routing(Answering):
    """The part of ``HostApp`` that finds who answers a request (a base class: the app holds
    the state it reads, set in ``HostApp.__init__``)."""

    host: Host
    access: AccessPolicy
    management: Management
    transport: HostTransport
    forwards: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]]
    _max_concurrent: dict[str, int | None]
    _fast: dict[str, FastPath]
    _exposed: set[str] | None

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

    async def _failed(self, scope: Scope, send: Send, exc: Exception) -> None:
        # A failure outside any handler (a bug, an answer that cannot be written): the
        # operator gets the traceback, the client a problem body, never uvicorn's text/plain.
        log.error(
            "%s %s failed in the host: %s: %s",
            scope.get("method"),
            scope.get("path"),
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        try:
            await send_problem(
                send,
                ServiceError(500, f"the host failed while answering: {type(exc).__name__}: {exc}"),
            )
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
                await send_problem(
                    send,
                    UnavailableError(
                        f"instance {first!r} is stopped, not running",
                        service=self.host.stopped[first],
                    ),
                )
                return
            exposed = self.exposed
            if (
                inst is not None
                and exposed is not None
                and inst.path not in exposed
                and (not self._reaches(scope, method, stripped, inst.path))
            ):
                inst = None  # not exposed: only its dependents (and the operator) reach it
            if inst is None:
                shown = sorted(
                    p
                    for p in [*self.host.instances, *self.forwards]
                    if exposed is None or p in exposed
                )  # same in every mode
                await send_problem(
                    send,
                    EndpointNotFoundError(
                        f"no service is mounted at /{first}; mounted: "
                        f"{', '.join('/' + p for p in shown) or 'none'}"
                    ),
                )
                return
            rest = stripped[len(inst.path) + 1 :]
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
                    await send_problem(
                        send,
                        AccessDeniedError(
                            denied[1], status=denied[0], service=inst.meta.name, endpoint=route.name
                        ),
                        [(b"www-authenticate", b"Bearer")] if denied[0] == 401 else None,
                    )
                    return
            inst.requests[route.name] = inst.requests.get(route.name, 0) + 1
            if route.kind == "builtin":
                await self.management.builtin(scope, receive, send, inst, route, head)
                return
            if not inst.accepting:
                if inst.hold is not None or inst.forward is not None:
                    from ..state.http import held_request  # a capture, swap or migration

                    await held_request(
                        cast("HostApp", self), scope, receive, send, inst, route, head
                    )
                    return
                await send_problem(
                    send,
                    UnavailableError(
                        f"instance {inst.path!r} is {inst.state}, not running",
                        service=inst.meta.name,
                        endpoint=route.name,
                    ),
                )
                return
            limit = self._max_concurrent.get(inst.meta.name, NOT_GIVEN)
            if limit is NOT_GIVEN:
                limit = self._max_concurrent[inst.meta.name] = self._limit_for(inst)
            if limit is not None and inst.inflight >= limit:
                retry = self.limits.retry_after
                await send_problem(
                    send,
                    UnavailableError(
                        f"{inst.meta.name} (at /{inst.path}) is running {limit} requests, its"
                        f" limit (max_concurrent); retry after {retry} s",
                        service=inst.meta.name,
                        endpoint=route.name,
                    ),
                    [(b"retry-after", str(retry).encode())],
                )
                return
            ctx = scope.get("reverie.context")  # an in-process Plug passes it
            if ctx is None:
                try:
                    ctx = head.context()
                except CallError as err:
                    await send_problem(send, err)
                    return
            ctx.plugs = self.transport  # a Plug from a URL string in the handler: this host's
            if (
                method == "GET"
                and route.plain
                and found is route.exact
                and route.access == "public"
                and (exposed is None or inst.path in exposed)
                and scope["path"] == "/" + stripped
            ):  # one key per canonical path
                if len(self._fast) >= _FAST_MAX:
                    self._fast.clear()
                self._fast[scope["path"]] = FastPath(inst, route, limit)
            inst.inflight += 1
            try:
                if route.plain and method not in _BODY_VERBS:  # inline: one frame less
                    await self._unary(
                        receive,
                        send,
                        ctx,
                        getattr(inst.obj, route.method),
                        (),
                        {},
                        method == "HEAD",
                        inst.meta.name,
                        route.method,
                    )
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
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        inst: Instance,
        found: Match,
        head: Head,
        ctx: RequestContext,
    ) -> None:
        route = found.route
        try:
            body = b""
            if method in _BODY_VERBS and (
                route.kind == "endpoint"
                or route.args is None
                or route.args.needs_body
                or route.args.needs_request
            ):
                body = await self.read_body(receive, head)
            if route.kind == "endpoint":
                await self._endpoint(scope, receive, send, inst, route, head, ctx, body)
            else:
                await self._feature(scope, receive, send, inst, found, head, ctx, body)
        except BodyTimeoutError as err:
            await send_problem(send, err, CLOSE)
        except CallError as err:
            await send_problem(send, CallError.from_handler(err, ctx.request_id))
        except TooLarge:
            await send_problem(
                send,
                ServiceError(
                    413, f"the request body exceeds this host's limit of {self.max_body_size} bytes"
                ),
            )

    def _reaches(self, scope: Scope, method: str, stripped: str, mount: str) -> bool:
        """Whether a request may reach the service mounted at ``mount``: it is exposed, or the
        caller holds a host key, or it asks for an operator built-in (internal or private),
        which answers by its own access level."""
        exposed = self.exposed
        return (
            exposed is None
            or mount in exposed
            or (
                BUILTINS.get((method, stripped[len(mount) + 1 :]), _PUBLIC)[1] != "public"
                or self.access.check("internal", Head(scope["headers"]).auth) is None
            )
        )

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
            await send_problem(
                send,
                EndpointNotFoundError(
                    f"{inst.meta.name} (at /{inst.path}) has no feature or endpoint at /{rest}",
                    service=inst.meta.name,
                ),
            )
            return
        allow = allow_header(allowed).encode()
        if method == "OPTIONS":
            await send_bytes(send, 204, b"", None, [(b"allow", allow)])
            return
        await send_problem(
            send,
            ServiceError(
                405, f"/{inst.path}/{rest} does not answer {method}; it answers {allow.decode()}"
            ),
            [(b"allow", allow)],
        )
