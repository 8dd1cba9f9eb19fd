"""The host resolver for dependencies that live at a remote HTTP URL (``host.remote_urls``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..declare import ServiceMeta

if TYPE_CHECKING:
    from ..graph import Edge
    from ..host import Host
    from ..instance import Instance
    from ..transports.base import Transport

__all__ = ["default_plug_factory", "remote_url_resolver"]


def remote_url_resolver(
    host: Host,
) -> Callable[[Edge, ServiceMeta], Awaitable[Transport | None]]:
    """A resolver giving an ``HttpTransport`` to a service named in ``host.remote_urls``.

    ``remote_urls`` maps a service name (or one of its SIDs) to the base URL of the remote
    instance, e.g. ``{"Feed": "http://10.0.0.5:8000/Feed"}``.
    """

    async def resolve(edge: Edge, meta: ServiceMeta) -> Transport | None:
        urls = getattr(host, "remote_urls", None) or {}
        url = urls.get(meta.name) or next((urls[s] for s in meta.sids if s in urls), None)
        if url is None:
            return None
        from ..transports.http import HttpTransport

        return HttpTransport(url)

    return resolve


def default_plug_factory(host: Host) -> Callable[[Instance], Any]:
    """``host.plug_factory``: a Plug rooted at a local instance, in-process, with the internal key.

    The host's ASGI application is made on first use, so Plugs work before (or without) a server.
    """

    def factory(inst: Instance) -> Any:
        from .app import app_for

        return app_for(host).plug_for(inst)

    return factory
