"""Addressing: namespace / component / endpoint handles on a runtime.

Handles are cheap value objects; serving and calling happen on ``Endpoint``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import wire

if TYPE_CHECKING:
    from .client import EndpointRuntimeClient
    from .core import DistributedRuntime
    from .routing import Router
    from .server import Served

__all__ = ["Component", "Endpoint", "Namespace"]


class Namespace:
    """A namespace: a group of components (one deployment, one tenant)."""

    def __init__(self, rt: DistributedRuntime, name: str) -> None:
        self.runtime = rt
        self.name = name

    def component(self, name: str) -> Component:
        return Component(self, wire.check_token("component", name))

    def __repr__(self) -> str:
        return f"Namespace({self.name})"


class Component:
    """A component = a service name; each process serving it is one worker."""

    def __init__(self, ns: Namespace, name: str) -> None:
        self.namespace = ns
        self.runtime = ns.runtime
        self.name = name

    @property
    def path(self) -> str:
        return f"{self.namespace.name}/{self.name}"

    def endpoint(self, name: str) -> Endpoint:
        return Endpoint(self, wire.check_token("endpoint", name))

    def set_info(
        self,
        *,
        version: str | None = None,
        description: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Set what ``$SRV.INFO`` reports for this component (version is semver)."""
        from .micro import responder

        responder(self.runtime).set_info(
            self.namespace.name,
            self.name,
            version=version,
            description=description,
            metadata=metadata,
        )

    async def wait_for_workers(self, n: int = 1, timeout: float | None = 10.0) -> list[str]:
        """Wait until ``n`` processes serve any endpoint of this component."""
        return await self.runtime.wait_for_component(self.namespace.name, self.name, n, timeout)

    async def put_blueprint(self, blueprint_json: str) -> None:
        await self.runtime.put_blueprint(self.namespace.name, self.name, blueprint_json)

    async def get_blueprint(self) -> str | None:
        return await self.runtime.get_blueprint(self.namespace.name, self.name)

    def __repr__(self) -> str:
        return f"Component({self.path})"


class Endpoint:
    """One endpoint of a component: serve it here, or get a client that calls any worker."""

    def __init__(self, component: Component, name: str) -> None:
        self.component = component
        self.runtime = component.runtime
        self.name = name

    @property
    def path(self) -> str:
        return f"{self.component.path}/{self.name}"

    @property
    def subject(self) -> str:
        return wire.endpoint_subject(self.component.namespace.name, self.component.name, self.name)

    async def serve(
        self,
        handler: Callable[..., Any],
        *,
        streaming: bool,
        request_type: Any = Any,
        response_type: Any = Any,
        idempotent: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> Served:
        """Serve ``handler(request, ctx)`` from this process and register the worker.

        Unary handlers return an awaitable; streaming handlers return an async iterator."""
        from .server import Served

        served = Served(
            self,
            handler,
            streaming=streaming,
            request_type=request_type,
            response_type=response_type,
            idempotent=idempotent,
            metadata=metadata or {},
        )
        await served.start()
        return served

    def client(
        self,
        router: str | Router = "round_robin",
        *,
        idempotent: bool = False,
        response_type: Any = Any,
        window: int = wire.DEFAULT_WINDOW,
        window_bytes: int = wire.DEFAULT_WINDOW_BYTES,
    ) -> EndpointRuntimeClient:
        """A client calling the live workers of this endpoint through ``router``. A stream's
        producer runs at most ``window`` items or ``window_bytes`` bytes ahead of its consumer."""
        from .client import EndpointRuntimeClient

        return EndpointRuntimeClient(
            self,
            router,
            idempotent=idempotent,
            response_type=response_type,
            window=window,
            window_bytes=window_bytes,
        )

    def __repr__(self) -> str:
        return f"Endpoint({self.path})"
