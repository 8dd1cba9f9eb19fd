"""The NATS transport: calls to a service whose workers run in other processes or machines.

A thin adapter from the ``Transport`` interface to ``DistributedRuntime`` endpoint clients,
one per endpoint name, created on first use. The runtime already raises ``reverie.errors``;
anything nats-py raises past it is translated by ``CallError.from_transport``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from reverie.errors import CallError

from ..call.context import RequestContext
from ..declare.service import EndpointMeta
from .base import Transport

if TYPE_CHECKING:
    from ..http.plug import Plug
    from ..runtime import DistributedRuntime, EndpointRuntimeClient, Router

__all__ = ["NatsTransport"]


class NatsTransport(Transport):
    """Carries calls to ``namespace/component`` over a shared ``DistributedRuntime``."""

    def __init__(
        self,
        runtime: DistributedRuntime,
        namespace: str,
        component: str,
        router: str | Router = "round_robin",
    ) -> None:
        self.runtime = runtime
        self.namespace = namespace
        self.component = component
        self.router = router
        self._component = runtime.namespace(namespace).component(component)
        self._clients: dict[str, EndpointRuntimeClient] = {}
        #: The target's features over the runtime (set by the host's runtime layer).
        self.plug: Plug | None = None

    def client_for(self, endpoint: EndpointMeta) -> EndpointRuntimeClient:
        client = self._clients.get(endpoint.name)
        if client is None:
            client = self._component.endpoint(endpoint.name).client(
                self.router, idempotent=endpoint.idempotent
            )
            self._clients[endpoint.name] = client
        return client

    async def call(self, endpoint: EndpointMeta, request: Any, ctx: RequestContext) -> Any:
        client = self._clients.get(endpoint.name) or self.client_for(endpoint)
        try:
            return await client.call(request, ctx)
        except CallError:
            raise
        except Exception as exc:
            raise CallError.from_transport(
                exc, f"{self.describe()}/{endpoint.name}", ctx.request_id
            ) from None

    def stream(
        self, endpoint: EndpointMeta, request: Any, ctx: RequestContext
    ) -> AsyncIterator[Any]:
        client = self._clients.get(endpoint.name) or self.client_for(endpoint)
        return client.stream(request, ctx)

    async def wait_for_workers(self, n: int = 1, timeout: float | None = 10.0) -> list[str]:
        """Wait until ``n`` processes serve this component (readiness of a dependency)."""
        return await self._component.wait_for_workers(n, timeout)

    async def aclose(self) -> None:
        self._clients.clear()

    def describe(self) -> str:
        return f"nats:{self.namespace}/{self.component}@{self.runtime.url}"
