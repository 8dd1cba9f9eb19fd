"""Attaches HTTP to a host from outside: its ASGI application, remote URLs, clients' ``.plug``.

``attach_http(host)`` adds the ``http`` resolver (idempotent): dependencies named in its
``remote_urls`` ({service name or SID: base URL}) are not started here and are reached over
HTTP, and a client of a local instance gets a Plug dispatching into this host's application.
Nothing here imports a server or httpx; those load when a server starts or a socket is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..declare.service import ServiceMeta
from ..host.resolver import Resolver

if TYPE_CHECKING:
    from ..host.graph import Edge
    from ..host.host import Host
    from ..host.instance import Instance
    from ..transports.base import Transport
    from .access import AccessPolicy
    from .app import HostApp
    from .limits import HttpLimits

__all__ = ["HttpResolver", "attach_http", "expose_graph", "http_layer"]

#: Requests in flight at once from one host to one remote dependency (the rest wait).
REMOTE_CONNECTIONS = 100


class HttpResolver(Resolver):
    """The HTTP layer of one host: its application and where remote services live."""

    name = "http"

    def __init__(self, app: HostApp) -> None:
        self.app = app
        #: {service name or SID: base URL of the remote instance, e.g. http://10.0.0.5:8000/Feed}
        self.remote_urls: dict[str, str] = {}

    def url_of(self, meta: ServiceMeta) -> str | None:
        """Where ``meta`` runs remotely: ``remote_urls`` (by name or SID), else the deployment
        file's ``ServiceArgs: url`` (in the section named after it or keyed by its SID)."""
        urls = self.remote_urls
        url = urls.get(meta.name) or next((urls[s] for s in meta.sids if s in urls), None)
        dep = self.app.host.deployment
        if url is None and dep is not None:
            found = dep.url_for(meta.name, meta.sids)
            if found is not None:
                url = str(found.value)
        return url

    def elsewhere(self, meta: ServiceMeta) -> bool:
        return self.url_of(meta) is not None

    async def transport(self, edge: Edge, meta: ServiceMeta) -> Transport | None:
        url = self.url_of(meta)
        if url is None:
            return None
        from ..transports.http import HttpTransport
        from .plugasgi import HostTransport
        from .plughttpx import HttpxTransport

        # This host's own URLs stay in-process; others over the pool, capped per dependency.
        return HttpTransport(
            url, via=HostTransport(self.app, HttpxTransport(max_connections=REMOTE_CONNECTIONS))
        )

    def features(self, target: Instance) -> Any:
        if target.host is not self.app.host:
            return None
        return self.app.plug_for(target)


def attach_http(
    host: Host,
    *,
    access: AccessPolicy | None = None,
    max_body_size: int | None = None,
    remote: Mapping[str, str] | None = None,
    limits: HttpLimits | None = None,
) -> HostApp:
    """The host's ASGI application, made and attached on first call; later calls reuse it.

    ``remote`` adds remote dependency URLs (service name or SID -> base URL).
    """
    layer = http_layer(host)
    if layer is None:
        from .app import DEFAULT_MAX_BODY, HostApp

        app = HostApp(
            host, access=access, max_body_size=max_body_size or DEFAULT_MAX_BODY, limits=limits
        )
        layer = HttpResolver(app)
        host.add_resolver(layer)
    else:
        if access is not None:
            layer.app.access = access
        if max_body_size is not None:
            layer.app.max_body_size = max_body_size
        if limits is not None:
            layer.app.limits = limits
    if remote:
        layer.remote_urls.update(remote)
    return layer.app


def expose_graph(host: Host, entry: type) -> dict[str, str]:
    """Serve publicly only the instances the deployment exposes (default: the entry's); the
    others answer 404 to anyone without the host's internal or API key. Returns {service: path}
    of the exposed ones."""
    from ..config.service_args import is_exposed, resolve_service_args

    shown: dict[str, str] = {}
    for inst in host.instances.values():
        args = resolve_service_args(inst.meta, host.deployment)
        if is_exposed(args, inst.cls is entry):
            shown[inst.meta.name] = inst.path
    attach_http(host).exposed = set(shown.values())
    return shown


def http_layer(host: Host) -> HttpResolver | None:
    """The host's HTTP resolver, when HTTP is attached."""
    layer = host.resolver("http")
    return layer if isinstance(layer, HttpResolver) else None
