"""Dependency clients: what a ``depends()`` attribute becomes once the host links the instance.

A ``ServiceClient`` has one plain attribute per endpoint of the target, each a caller from
``client`` chosen once here (local or wire, unary or streaming, traced or not), so a call is one
dict lookup away; ``.plug`` reaches the target's features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reverie.errors import EndpointNotFoundError

from ..declare.service import EndpointMeta, ServiceMeta
from ..markers import NOT_GIVEN
from ..suggest import did_you_mean
from ..transports.base import Transport
from . import client as callers
from .client import _Caller, _LocalUnaryCaller, _StreamCaller, _UnaryCaller, _WireUnaryCaller
from .edges import Edges, transport_kind

if TYPE_CHECKING:
    from ..http.plug import Plug

__all__ = ["EndpointClient", "ServiceClient"]


class EndpointClient:
    """One endpoint of a dependency, as ``await client.get_endpoint("x")`` returns it."""

    def __init__(self, meta: ServiceMeta, ep: EndpointMeta, caller: Callable[..., Any]) -> None:
        self.meta = meta
        self.endpoint = ep
        self._caller = caller

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def streaming(self) -> bool:
        return self.endpoint.streaming

    def generate(
        self, request: Any = NOT_GIVEN, /, *, timeout: float | None = None, **fields: Any
    ) -> Any:
        """Call the endpoint: an awaitable (unary) or an async iterator (streaming)."""
        return self._caller(request, timeout=timeout, **fields)

    __call__ = generate

    def __repr__(self) -> str:
        return f"EndpointClient({self.meta.name}.{self.endpoint.name})"


class ServiceClient:
    """A linked dependency: one attribute per endpoint of the target service."""

    def __init__(
        self,
        meta: ServiceMeta,
        transport: Transport,
        *,
        plug: Plug | None = None,
        features: Callable[[], Plug | None] | None = None,
    ) -> None:
        self._meta = meta
        self._transport = transport
        self._plug = plug
        # Asked on first use of .plug: HTTP may attach to the host after this client was linked.
        self._features = features
        self._callers: dict[str, _Caller] = {}
        wire = transport_kind(transport) != "in-process"
        traced = callers.traced_callers  # set by the tracing layer while tracing is on
        for ep in meta.endpoints.values():
            cls: type[_Caller]
            if traced is not None:  # chosen once, here: with tracing off no call pays for it
                cls = traced[1] if ep.streaming else traced[0]
            else:
                cls = (
                    _StreamCaller
                    if ep.streaming
                    else (
                        _WireUnaryCaller
                        if wire
                        else _LocalUnaryCaller
                        if getattr(transport, "instance", None) is not None
                        and not transport.wire
                        and ep.timeout is None
                        else _UnaryCaller
                    )
                )
            # Plain instance attributes: `client.generate` is one dict lookup on the hot path;
            # a local unary caller's is its function (`call`), the caller kept in `_callers`.
            caller = self._callers[ep.name] = cls(meta, ep, transport)
            local = caller.call if isinstance(caller, _LocalUnaryCaller) else None
            self.__dict__[ep.name] = caller if local is None else local

    def track_edges(self, edges: Edges, caller: str) -> None:
        """Count this client's calls as the edge ``caller`` -> target in ``edges``."""
        kind = transport_kind(self._transport)
        for ep in self._meta.endpoints.values():
            call = self._callers.get(ep.name)
            if call is not None:
                call._stats = edges.get(
                    caller,
                    self._meta.name,
                    ep.name,
                    kind,
                    ep.streaming,
                    every_call=kind != "in-process",
                )

    @property
    def meta(self) -> ServiceMeta:
        return self._meta

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def plug(self) -> Plug:
        """A ``Plug`` rooted at the target's features (in-process when the target is local)."""
        if self._plug is None and self._features is not None:
            self._plug = self._features()
        if self._plug is None:
            raise AttributeError(self._no_plug())
        return self._plug

    def _no_plug(self) -> str:
        if self._features is not None:
            return (
                f"client of {self._meta.name} has no Plug: its host has no HTTP layer attached; "
                f"call reverie.attach_http(host) (run_graph and reverie serve do)"
            )
        return (
            f"client of {self._meta.name} has no Plug: the target is not mounted on an HTTP "
            f"host reachable from here (it runs in another process and is reached over "
            f"{self._transport.describe()}); call its endpoints instead"
        )

    def list_endpoints(self) -> list[str]:
        return list(self._meta.endpoints)

    def has_endpoint(self, name: str) -> bool:
        return name in self._meta.endpoints

    async def get_endpoint(self, name: str) -> EndpointClient:
        """An endpoint client by name (the form Dynamo SDK code uses)."""
        ep = self._meta.endpoints.get(name)
        if ep is None:
            raise EndpointNotFoundError(
                f"no endpoint {name!r}; it has {', '.join(self._meta.endpoints) or 'none'}"
                + did_you_mean(name, self._meta.endpoints),
                service=self._meta.name,
            )
        return EndpointClient(self._meta, ep, self.__dict__[name])  # what client.<name> is

    async def aclose(self) -> None:
        await self._transport.aclose()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "plug":  # the property raised; Python then asks __getattr__
            raise AttributeError(self._no_plug())
        eps = self._meta.endpoints
        raise AttributeError(
            f"{self._meta.name} has no endpoint {name!r}; endpoints: "
            f"{', '.join(eps) or 'none'}{did_you_mean(name, eps)}"
        )

    def __repr__(self) -> str:
        return f"<client of {self._meta.name} via {self._transport.describe()}>"
