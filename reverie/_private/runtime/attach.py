"""Joins a host to a NATS ``DistributedRuntime``.

Once attached, every running instance's endpoints are served over NATS (withdrawn when it
stops), its blueprint is published under its runtime address, and a dependency that does not
run in this process gets a client over NATS — after waiting, bounded, for a live worker, so a
dependent never starts before what it needs ("no workers found" races).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reverie.errors import NoWorkersError

from ..declare.service import EndpointMeta, ServiceMeta
from ..host.graph import Edge
from ..host.instance import Instance
from ..host.resolver import Resolver
from ..transports.base import Transport

if TYPE_CHECKING:
    from ..host.host import Host
    from . import DistributedRuntime, Served

__all__ = ["RuntimeResolver", "attach_runtime", "runtime_address", "runtime_of"]

log = logging.getLogger("reverie.host")


def runtime_address(host: Host, meta: ServiceMeta) -> tuple[str, str]:
    """(namespace, component) of a service: the deployment's ``runtime:`` section, else markup."""
    from ..config.service_args import service_address

    return service_address(meta, host.deployment)


def _handler(inst: Instance, ep: EndpointMeta) -> Callable[[Any, Any], Any]:
    # The method is looked up per call (a live swap replaces the instance's handlers) and the
    # call is counted in flight; a held or moved instance goes through the state gate.
    counts = inst.requests
    name = ep.name
    no_request = ep.request_param is None
    if ep.streaming:

        def stream(request: Any, ctx: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            if not inst.accepting:
                return _held(inst, ep, request, ctx)
            return _counted(
                inst, inst.handlers[name]() if no_request else inst.handlers[name](request)
            )

        return stream

    async def call(request: Any, ctx: Any) -> Any:
        counts[name] = counts.get(name, 0) + 1
        if not inst.accepting:
            return await _held_call(inst, ep, request, ctx)
        inst.active += 1
        try:
            if no_request:
                return await inst.handlers[name]()
            return await inst.handlers[name](request)
        finally:
            inst.active -= 1

    return call


async def _counted(inst: Instance, gen: Any) -> Any:
    inst.active += 1
    try:
        async for item in gen:
            yield item
    finally:
        inst.active -= 1
        await gen.aclose()


async def _held_call(inst: Instance, ep: EndpointMeta, request: Any, ctx: Any) -> Any:
    from ..state.gate import admit

    if await admit(inst, ep.name):
        inst.active += 1
        try:
            handler = inst.handlers[ep.name]
            return await (handler() if ep.request_param is None else handler(request))
        finally:
            inst.active -= 1
    assert inst.forward is not None
    return await inst.forward.call(ep, request, ctx)


async def _held(inst: Instance, ep: EndpointMeta, request: Any, ctx: Any) -> Any:
    from ..state.gate import admit

    if await admit(inst, ep.name):
        handler = inst.handlers[ep.name]
        inner = _counted(inst, handler() if ep.request_param is None else handler(request))
    else:
        assert inst.forward is not None
        inner = inst.forward.stream(ep, request, ctx)
    try:
        async for item in inner:
            yield item
    finally:
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()


class RuntimeResolver(Resolver):
    """The NATS layer of one host: a dependency not running here is reached over the runtime."""

    name = "runtime"

    def __init__(self, host: Host, runtime: DistributedRuntime, dependency_timeout: float) -> None:
        self.host = host
        self.runtime = runtime
        self.dependency_timeout = dependency_timeout

    async def transport(self, edge: Edge, meta: ServiceMeta) -> Transport | None:
        from ..http.plug import Plug
        from ..transports.nats import NatsTransport
        from .features import RuntimeFeatures, RuntimePlugTransport

        ns, comp = runtime_address(self.host, meta)
        transport = NatsTransport(self.runtime, ns, comp)
        features = RuntimeFeatures(self.runtime, ns, comp)  # the .plug, over the runtime
        transport.plug = Plug(features.origin, transport=RuntimePlugTransport(features))
        timeout = self.dependency_timeout
        if not edge.dependency.optional:
            try:
                # Every endpoint, not just the component: a process registers its endpoints one
                # by one, and a call to one not yet seen would fail with NoWorkersError. The
                # features (the .plug) are one more endpoint.
                for ep in meta.endpoints.values():
                    await transport.client_for(ep).wait_for_workers(1, timeout)
                await features.wait_for_workers(1, timeout)
            except NoWorkersError:
                raise NoWorkersError(
                    f"dependency {edge.dependency.owner}.{edge.attribute} -> {meta.name} has no "
                    f"live worker at {ns}/{comp} after {timeout:g} s; start it (or "
                    f"check the runtime: section and the NATS URL)",
                    service=meta.name,
                ) from None
        return transport


def runtime_of(host: Host) -> DistributedRuntime | None:
    """The runtime attached to ``host``, or None."""
    layer = host.resolver("runtime")
    return layer.runtime if isinstance(layer, RuntimeResolver) else None


async def attach_runtime(
    host: Host, runtime: DistributedRuntime, *, dependency_timeout: float = 30.0
) -> None:
    """Serve this host's instances over ``runtime`` and reach absent dependencies through it.

    ``dependency_timeout`` bounds the wait for a required remote dependency's first worker.
    """
    served: dict[str, list[Served]] = {}
    features_of: dict[tuple[str, str], str] = {}  # (ns, comp) -> the path answering features

    async def serve(inst: Instance) -> None:
        from ..http.attach import attach_http
        from .features import serve_features

        meta = inst.meta
        ns, comp = runtime_address(host, meta)
        component = runtime.namespace(ns).component(comp)
        component.set_info(version=meta.version, description=meta.description.split("\n")[0])
        await runtime.put_blueprint(ns, comp, inst.blueprint().to_json(indent=None))
        mine = served.setdefault(inst.path, [])
        if (ns, comp) not in features_of:  # one answer per component and process
            features_of[ns, comp] = inst.path
            mine.append(await serve_features(runtime, attach_http(host), inst, ns, comp))
        for ep in meta.endpoints.values():
            mine.append(
                await component.endpoint(ep.name).serve(
                    _handler(inst, ep),
                    streaming=ep.streaming,
                    request_type=ep.request_type,
                    response_type=ep.response_type,
                    idempotent=ep.idempotent,
                )
            )

    async def withdraw(inst: Instance) -> None:
        for key, path in list(features_of.items()):
            if path == inst.path:
                del features_of[key]
        for s in served.pop(inst.path, []):
            await s.stop()

    host.on_instance_running.append(serve)
    host.on_instance_stopping.append(withdraw)
    host.add_resolver(RuntimeResolver(host, runtime, dependency_timeout))
    for inst in list(host.instances.values()):
        if inst.accepting:
            await serve(inst)
