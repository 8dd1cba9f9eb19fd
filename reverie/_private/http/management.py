"""Built-in features of every instance (@about, @blueprint, @config, DELETE) and of the host
(/@host/…, /health/…, /openapi.json, /docs)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    AccessDeniedError,
    CallError,
    ConfigError,
    EndpointNotFoundError,
    ReverieError,
    ServiceError,
    StartError,
    StateError,
    UnknownSIDError,
)

from ..host.instance import mount_path_problem
from ..host.lifecycle import State
from .config_route import config_error, put_config, shown_config
from .docs import asset, docs_page
from .send import Send, send_bytes, send_json, send_problem

if TYPE_CHECKING:
    from ..host.instance import Instance
    from .app import HostApp
    from .head import Head
    from .routes import Route

__all__ = ["Management"]

log = logging.getLogger("reverie.http")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class Management:
    """The host-level and built-in routes of one ``HostApp``."""

    def __init__(self, app: HostApp) -> None:
        self.app = app
        self.host = app.host
        self._openapi: tuple[tuple[str, ...], bytes] | None = None
        self._openapi30: bytes | None = None

    # -- built-ins of an instance ----------------------------------------------------------------

    async def builtin(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        inst: Instance,
        route: Route,
        head: Head,
    ) -> None:
        name = route.name
        if name == "@about":
            await send_json(send, inst.about())
        elif name == "@blueprint":
            await send_json(send, inst.blueprint().to_dict())
        elif name == "@config":
            await send_json(send, shown_config(inst.config))
        elif name == "@config:put":
            await put_config(self.app, receive, send, inst, head)
        elif name == "@state":
            from ..state.routes import send_state

            await send_state(send, inst)
        else:  # @stop
            await self.host.stop_instance(inst.path)
            await send_json(send, {"stopped": inst.path, "state": inst.state.value})

    # -- host routes -----------------------------------------------------------------------------

    async def host_request(
        self, scope: Scope, receive: Receive, send: Send, method: str, stripped: str
    ) -> None:
        from .head import Head

        parts = stripped.split("/")
        first = parts[0]
        if first == "health":
            await self._health(send, method, parts)
            return
        if first == "openapi.json" and len(parts) == 1:
            if method not in ("GET", "HEAD"):
                await _not_allowed(send, method, "GET, HEAD")
                return
            await send_bytes(send, 200, self.openapi_bytes())
            return
        if first == "metrics" and len(parts) == 1:
            await self._metrics(send, method)
            return
        if first == "docs":
            await self._docs(send, method, parts)
            return
        head = Head(scope["headers"])
        if parts[1:2] == ["dashboard"]:
            await self._dashboard(send, method, parts, head)
            return
        denied = self.app.access.check("private", head.auth)
        if denied is not None:
            await send_problem(
                send,
                AccessDeniedError(denied[1], status=denied[0]),
                [(b"www-authenticate", b"Bearer")] if denied[0] == 401 else None,
            )
            return
        try:
            await self._private(receive, send, method, stripped, head)
        except CallError as err:
            await send_problem(send, err)

    async def _metrics(self, send: Send, method: str) -> None:
        """Prometheus text: this process's metrics, or every process's under --processes."""
        if method not in ("GET", "HEAD"):
            await _not_allowed(send, method, "GET, HEAD")
            return
        from .metrics import render_metrics

        body, content_type = render_metrics(self.host)
        source = getattr(self.host, "metrics_source", None)
        if source is not None:  # --processes: every process of the graph, labelled
            body = await source()
        await send_bytes(send, 200, body, content_type)

    async def _private(
        self, receive: Receive, send: Send, method: str, stripped: str, head: Head
    ) -> None:
        """The private host routes (access already checked): blueprints, services (list,
        create, stop, swap)."""
        rest = stripped.split("/")[1:]
        if rest == ["blueprints"] and method == "GET":
            bps = self.host.registry.blueprints()
            await send_json(send, {k: bp.to_dict() for k, bp in bps.items()})
        elif rest == ["services"] and method == "GET":
            await send_json(send, [i.about() for i in self.host.instances.values()])
        elif rest == ["services"] and method == "POST":
            await self._create(receive, send, head)
        elif len(rest) >= 2 and rest[0] == "services" and method == "DELETE":
            path = "/".join(rest[1:])
            if path not in self.host.instances:
                raise EndpointNotFoundError(f"no instance at path {path!r}")
            inst = await self.host.stop_instance(path)
            await send_json(send, {"stopped": inst.path, "state": inst.state.value})
        elif len(rest) >= 2 and rest[0] == "services" and method == "PUT":
            from ..state.routes import swap_route  # a live swap

            await swap_route(self, receive, send, head, "/".join(rest[1:]))
        elif rest in (["blueprints"], ["services"]) or (rest and rest[0] == "services"):
            allow = (
                "GET"
                if rest == ["blueprints"]
                else ("GET, POST" if rest == ["services"] else "PUT, DELETE")
            )
            await _not_allowed(send, method, allow)
        else:
            raise EndpointNotFoundError(
                f"the host has no route /{stripped}; it has /@host/blueprints, "
                f"/@host/services, /@host/services/<path> and /@host/dashboard"
            )

    async def _create(self, receive: Receive, send: Send, head: Head) -> None:
        spec = _checked_spec(await self.app.read_json(receive, head))
        config = spec.get("config") or {}
        try:
            target = self._target(spec)
        except UnknownSIDError as exc:
            raise ServiceError(400, str(exc)) from None
        path = self._free_path(spec, target)
        try:
            inst = await self.host.start_instance(
                target,
                path=path,
                config=config,
                config_source="POST /@host/services",
                state=spec.get("state"),
            )
        except StateError as exc:
            raise ServiceError(400, f"cannot start {path}: {exc}") from None
        except ConfigError as exc:
            raise config_error(exc, f"cannot start {path}") from None
        except StartError as exc:
            raise ServiceError(
                500,
                str(exc),
                details={"state": exc.state, "cause": f"{type(exc.cause).__name__}: {exc.cause}"},
            ) from None
        except UnknownSIDError as exc:
            raise ServiceError(400, str(exc)) from None
        except ReverieError as exc:
            raise ServiceError(409 if "in use" in exc.message else 500, str(exc)) from None
        self.app.expose(inst.path)  # the operator asked for it: served like the entry
        await send_json(send, inst.about(), 201)

    def _free_path(self, spec: dict[str, Any], target: type) -> str:
        """The mount path asked for (default: the service's name), if it is valid and free."""
        from ..declare.service import get_meta

        path = str(spec.get("path") or get_meta(target).name).strip("/")
        problem = mount_path_problem(path)
        if problem is not None:
            raise ServiceError(
                400,
                f"path {path[:80]!r} cannot be a mount path: {problem}; "
                f"choose a path such as 'v1' or 'api/feed'",
            )
        existing = self.host.instances.get(path)
        if existing is not None and existing.state not in (State.STOPPED, State.FAILED):
            raise ServiceError(
                409,
                f"path {path!r} is in use by {existing.meta.name} "
                f"({existing.state.value}); choose another path or DELETE it",
            )
        return path

    def _target(self, spec: dict[str, Any]) -> type:
        if "sid" in spec:
            sid = str(spec["sid"])
            return self.host.registry.resolve(sid, needed_by="POST /@host/services")
        ref = str(spec["class"])
        for cls in self.host.known_classes():
            from ..contract.blueprint import class_ref
            from ..declare.service import get_meta

            if ref in (class_ref(cls), get_meta(cls).name):
                return cls
        raise ServiceError(
            400,
            f"class {ref!r} is not registered in this host; register it "
            f"(host.register or discovery) or start it by SID",
        )

    async def _health(self, send: Send, method: str, parts: list[str]) -> None:
        if len(parts) != 2 or parts[1] not in ("live", "ready"):
            await send_problem(
                send, EndpointNotFoundError("health routes are /health/live and /health/ready")
            )
            return
        if method not in ("GET", "HEAD"):
            await _not_allowed(send, method, "GET, HEAD")
            return
        if parts[1] == "live":
            await send_json(send, {"status": "live"})
            return
        waiting = {
            p: i.state.value for p, i in self.host.instances.items() if i.state is not State.RUNNING
        }
        if self.host.ready():
            await send_json(send, {"status": "ready", "instances": len(self.host.instances)})
        else:
            await send_json(send, {"status": "not ready", "waiting": waiting}, 503)

    async def _docs(self, send: Send, method: str, parts: list[str]) -> None:
        """``/docs`` (the page), ``/docs/openapi-3.0.json``, ``/docs/assets/<file>``."""
        if method not in ("GET", "HEAD"):
            await _not_allowed(send, method, "GET, HEAD")
            return
        if len(parts) == 1:
            await send_bytes(
                send, 200, docs_page(self.title()).encode(), b"text/html; charset=utf-8"
            )
            return
        if parts[1:] == ["openapi-3.0.json"]:
            await send_bytes(send, 200, self.openapi_bytes(version="3.0"))
            return
        found = asset(parts[2]) if len(parts) == 3 and parts[1] == "assets" else None
        if found is None:
            await send_problem(
                send,
                EndpointNotFoundError(
                    f"/{'/'.join(parts)} is not a file of the docs page; it has /docs, "
                    f"/docs/openapi-3.0.json and /docs/assets/<file>"
                ),
            )
            return
        body, kind = found
        await send_bytes(send, 200, body, kind, [(b"cache-control", b"max-age=3600")])

    async def _dashboard(self, send: Send, method: str, parts: list[str], head: Head) -> None:
        """``/@host/dashboard`` (the page), ``…/data`` (JSON), ``…/assets/<file>``: internal
        access. A browser sends the key by HTTP Basic auth (any user name, the key as password;
        it asks once, then sends it with every request of the page); tools send a Bearer key."""
        denied = self.app.access.check("internal", _basic_as_bearer(head.auth))
        if denied is not None:
            await send_problem(
                send,
                AccessDeniedError(
                    f"the dashboard is internal: {denied[1]} (a browser asks for it: any user"
                    f" name, the key as password)",
                    status=denied[0],
                ),
                [(b"www-authenticate", b'Basic realm="Reverie dashboard", charset="UTF-8"')]
                if denied[0] == 401
                else None,
            )
            return
        if method not in ("GET", "HEAD"):
            await _not_allowed(send, method, "GET, HEAD")
            return
        rest = parts[2:]
        if not rest:
            found = asset("dashboard.html")
        elif rest == ["data"]:
            from .dashboard import dashboard_data, merge_views

            data = dashboard_data(self.host)
            source = getattr(self.host, "dashboard_source", None)
            if source is not None:  # --processes: every process's instances and edges
                data = merge_views(data, await source())
            await send_json(send, data)
            return
        else:
            found = asset(rest[1]) if len(rest) == 2 and rest[0] == "assets" else None
        if found is None:
            await send_problem(
                send,
                EndpointNotFoundError(
                    f"/{'/'.join(parts)} is not part of the dashboard; it has /@host/dashboard, "
                    f"/@host/dashboard/data and /@host/dashboard/assets/<file>"
                ),
            )
            return
        body, kind = found
        await send_bytes(send, 200, body, kind, [(b"cache-control", b"no-cache")])

    # -- OpenAPI -----------------------------------------------------------------------------------

    def title(self) -> str:
        """The host's name as people see it: ``Reverie: <name>``."""
        return f"Reverie: {self.host.name}"

    def openapi(self) -> dict[str, Any]:
        from ..contract.blueprint import blueprint
        from ..contract.openapi import openapi_document

        running = [i for i in self.host.instances.values() if i.state is State.RUNNING]
        services = {i.path: blueprint(i.cls) for i in running}
        names = ", ".join(sorted({i.meta.name for i in running})) or "none yet"
        return openapi_document(
            services,
            title=self.title(),
            version=_version(running),
            description=f"The services of host `{self.host.name}` ({names}), from their "
            f"blueprints. Reverie {_version([])}. Machine-readable: "
            f"[/openapi.json](/openapi.json).",
        )

    def openapi_bytes(self, version: str = "3.1") -> bytes:
        from ..transports.codec import json_encode

        key = tuple(
            sorted(
                f"{p}={id(i)}" for p, i in self.host.instances.items() if i.state is State.RUNNING
            )
        )
        if self._openapi is None or self._openapi[0] != key:
            self._openapi = (key, json_encode(self.openapi()))
            self._openapi30 = None
        if version == "3.0":
            if self._openapi30 is None:
                from ..contract.openapi30 import downgrade_to_30
                from ..transports.codec import json_decode

                old = downgrade_to_30(json_decode(self._openapi[1]))
                for ops in old.get("paths", {}).values():  # the access level, seen in the list
                    for op in ops.values():
                        access = op.get("x-reverie-access", "public")
                        op["summary"] = f"{op.get('summary', '')} [{access}]"
                self._openapi30 = json_encode(old)
            return self._openapi30
        return self._openapi[1]


def _basic_as_bearer(auth: bytes | None) -> bytes | None:
    """``Basic base64(user:key)`` as ``Bearer key``; anything else unchanged."""
    if auth is None or auth[:6].lower() != b"basic ":
        return auth
    import base64
    import binascii

    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return auth
    return b"Bearer " + decoded.partition(b":")[2]


def _version(instances: list[Instance]) -> str:
    """The version of the distribution that ships the services (the first instance's module),
    else Reverie's own."""
    return _dist_version(instances[0].cls.__module__.partition(".")[0] if instances else "")


@cache
def _dist_version(top: str) -> str:
    from importlib import metadata

    for dist in metadata.packages_distributions().get(top, []) if top else []:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        return metadata.version("reverie")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


async def _not_allowed(send: Send, method: str, allow: str) -> None:
    await send_problem(
        send,
        ServiceError(405, f"this route does not answer {method}; it answers {allow}"),
        [(b"allow", allow.encode())],
    )


def _checked_spec(spec: Any) -> dict[str, Any]:
    """The body of POST /@host/services, with its shape checked."""
    if not isinstance(spec, dict) or not ({"sid", "class"} & spec.keys()):
        raise ServiceError(
            400,
            'POST /@host/services takes {"sid": ... | "class": ..., "path": ..., "config": {...}}',
        )
    unknown = set(spec) - {"sid", "class", "path", "config", "state"}
    if unknown:
        raise ServiceError(
            400,
            f"unknown fields {', '.join(sorted(unknown))}; accepted: "
            "sid, class, path, config, state",
        )
    if not isinstance(spec.get("config") or {}, dict):
        raise ServiceError(400, "'config' must be a JSON object of config keys")
    return spec
