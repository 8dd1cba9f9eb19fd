"""How a host reaches what it does not run itself: the one interface transports attach through.

The core host knows no transport. Linking a dependency asks, in order: an instance running in
this host (in-process), then each attached ``Resolver`` (``attach_http(host)`` adds one for HTTP
URLs and features, ``attach_runtime(host, rt)`` one for the NATS runtime). Every method may
decline by returning the default, so a layer implements only what it offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..declare.service import ServiceMeta
    from ..transports.base import Transport
    from .graph import Edge
    from .instance import Instance

__all__ = ["Resolver"]


class Resolver:
    """One way to reach services from a host; attach with ``host.add_resolver(r)``."""

    #: The layer's name (``http``, ``runtime``): ``host.resolver(name)`` finds it.
    name: str = "resolver"

    def elsewhere(self, meta: ServiceMeta) -> bool:
        """True when ``meta`` is known to run elsewhere, so the host must not start it here."""
        return False

    async def transport(self, edge: Edge, meta: ServiceMeta) -> Transport | None:
        """A transport to a dependency that does not run in this host, or None to pass."""
        return None

    def features(self, target: Instance) -> Any:
        """A Plug rooted at a local instance's features (a client's ``.plug``), or None."""
        return None
