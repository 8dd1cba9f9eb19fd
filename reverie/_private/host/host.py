"""The host: keeps blueprints by SID, creates instances, configures, links, starts and stops them.

``Host.start(Entry)`` resolves the dependency graph from an entry class, then moves every
instance through created → configured → linked → starting → running, dependencies first. A
failure leaves the host running: what this start acquired is released and the error says which
instance failed, in which state, and why.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    ConfigError,
)

from ..call.edges import Edges
from ..call.service_client import ServiceClient
from ..declare.service import ServiceMeta, get_meta, is_service
from ..transports.inprocess import InProcessTransport
from .bringup import restart, start_one, stop_one
from .graph import Graph, resolve_graph
from .instance import Instance, Mounts
from .lifecycle import State
from .resolver import Resolver

if TYPE_CHECKING:
    from ..config.deployment import Deployment
    from ..config.resolve import ResolvedConfig
    from ..state.document import StateDocument
    from .registry import DiscoveryReport, Registry

__all__ = ["Host", "Instance"]

log = logging.getLogger("reverie.host")

Listener = Callable[[Instance], Awaitable[None]]


class Host:
    """Runs service instances in this process and links their dependencies.

    ``serialize=True`` makes in-process calls go through the wire codec (see
    ``InProcessTransport``). ``deployment`` is a parsed ``Deployment`` or a path to the YAML file.
    ``env`` defaults to ``os.environ`` and is the environment-variable config layer.
    The host knows no transport: HTTP and NATS attach from outside (``attach_http(host)``,
    ``attach_runtime(host, rt)``) as ``Resolver``s.
    """

    def __init__(
        self,
        *,
        serialize: bool = False,
        deployment: Deployment | str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        name: str = "host",
    ) -> None:
        from .registry import Registry

        self.name = name
        #: Seconds a call waits at an instance held by a capture, swap or migration (then 503).
        self.hold_timeout = 10.0
        self.serialize = serialize
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.registry: Registry = Registry()
        self.instances: Mounts = Mounts()
        self._primary: dict[type, Instance] = {}
        self._order: list[Instance] = []
        self.resolvers: list[Resolver] = []
        #: {path: service name} of instances stopped one by one: a call to such a path is
        #: "unavailable" on every transport (not "not found"), until a new instance takes it.
        self.stopped: dict[str, str] = {}
        self.edges = Edges()  # per-edge call counters (dependency clients keep them)
        self.on_instance_starting: list[Listener] = []  # before its on_start hooks run
        self.on_instance_running: list[Listener] = []
        self.on_instance_stopping: list[Listener] = []
        self.deployment: Deployment | None = None
        if deployment is not None:
            self.use_deployment(deployment)

    # -- registry -------------------------------------------------------------------------------

    def use_deployment(self, deployment: Deployment | str | os.PathLike[str]) -> None:
        """Apply a deployment file: its config layer and its ``bind:`` section."""
        from ..config.deployment import load_deployment

        if isinstance(deployment, (str, os.PathLike)):
            deployment = load_deployment(deployment)
        self.deployment = deployment
        for sid, target in deployment.bind.items():
            self.registry.bind(sid, target.value)

    def register(self, *classes: type) -> None:
        for cls in classes:
            self.registry.register(cls)

    def bind(self, sid: str, cls: type | str) -> None:
        """Pick the implementation of a SID (code-level binding)."""
        self.registry.bind(sid, cls)

    def discover(self, directory: str | Path) -> DiscoveryReport:
        return self.registry.discover(directory)

    def discover_entry_points(self, group: str = "reverie.services") -> DiscoveryReport:
        return self.registry.discover_entry_points(group)

    def _resolve_sid(self, sid: str, needed_by: str) -> type:
        return self.registry.resolve(sid, needed_by=needed_by)

    # -- lookups --------------------------------------------------------------------------------

    def instance(self, name: str | type) -> Instance:
        """An instance by path, service name or class."""
        if isinstance(name, type):
            inst = self._primary.get(name)
            if inst is not None:
                return inst
            name = get_meta(name).name
        inst = self.instances.get(name.strip("/"))
        if inst is not None:
            return inst
        for inst in self.instances.values():
            if inst.meta.name == name:
                return inst
        raise LookupError(
            f"no instance {name!r} in host {self.name!r}; instances: "
            f"{', '.join(self.instances) or 'none'}"
        )

    def client(self, target: str | type) -> ServiceClient:
        """A client for a local instance, for code outside any service (tests, scripts)."""
        inst = self.instance(target)
        return ServiceClient(
            inst.meta,
            InProcessTransport(inst, serialize=self.serialize),
            features=lambda: self.features_for(inst),
        )

    def ready(self) -> bool:
        """True once every instance runs and each required dependency has a live target."""
        return bool(self.instances) and all(
            i.state is State.RUNNING for i in self.instances.values()
        )

    def graph(self, entry: type | str, overrides: Mapping[Any, Any] | None = None) -> Graph:
        """The graph from ``entry``. SIDs resolve by one rule, whatever starts the graph
        (``Host.start``, ``run_graph``, ``reverie serve``): the services of the entry's own
        module, the deployment's ``bind:``, code bindings, discovered directories and entry
        points."""
        cls = self._entry_class(entry)
        self.register_module_of(cls)
        return resolve_graph(cls, self._resolve_sid, overrides)

    def register_module_of(self, entry: type) -> None:
        """Register the services defined in ``entry``'s module (beside it, so a SID dependency
        on a class next to the entry resolves without a ``bind:``)."""
        import sys

        module = sys.modules.get(entry.__module__)
        for obj in list(vars(module).values()) if module is not None else []:
            if is_service(obj) and obj.__module__ == entry.__module__:
                self.registry.register(obj)

    def known_classes(self) -> list[type]:
        """Every service class this host can start: registered, or running in an instance."""
        seen = dict.fromkeys(self.registry.classes())
        seen.update(dict.fromkeys(i.cls for i in self.instances.values()))
        return list(seen)

    def _entry_class(self, entry: type | str) -> type:
        if isinstance(entry, str):
            return self.registry.resolve(entry)
        return entry

    # -- config ---------------------------------------------------------------------------------

    def resolve_config(
        self, cls: type, overrides: Mapping[str, Any] | None = None, source: str = "code"
    ) -> ResolvedConfig:
        from ..config.resolve import resolve_config

        return resolve_config(
            get_meta(cls),
            deployment=self.deployment,
            env=self.env,
            overrides=overrides,
            overrides_source=source,
        )

    def explain_config(self, name: str | type) -> str:
        """Each key of an instance's config: value (secrets masked) and the layer that set it."""
        inst = self.instance(name)
        resolved = inst.config or self.resolve_config(inst.cls)
        lines = [f"{inst.meta.name} ({inst.path}):"]
        for rv in dict(resolved.items()).values():
            lines.append(f"  {rv.key} = {rv.display()}    [{rv.source}]")
        if len(lines) == 1:
            lines.append("  (no config keys)")
        return "\n".join(lines)

    # -- starting -------------------------------------------------------------------------------

    async def start(
        self,
        entry: type | str,
        *,
        config: Mapping[str | type, Mapping[str, Any]] | None = None,
        overrides: Mapping[Any, Any] | None = None,
        local: set[str] | None = None,
        config_source: str = "Host.start(config=...)",
    ) -> Instance | None:
        """Start the graph reachable from ``entry``; returns the entry's instance.

        ``local`` restricts which services run here (by name); the others must be reachable
        through a transport resolver (a NATS runtime, an HTTP URL). Already running instances
        of a class are reused.
        """
        graph = self.graph(entry, overrides)
        if self.deployment is not None:
            self._check_deployment(graph)
        per_service = _per_service_config(config)
        started: list[Instance] = []
        names = {get_meta(c).name for c in graph.order}
        for key in per_service:
            if key not in names:
                raise ConfigError(
                    f"config is given for {key!r}, which is not a service of this graph "
                    f"(services: {', '.join(sorted(names))})",
                    source=config_source,
                )
        try:
            for cls in graph.order:
                meta = get_meta(cls)
                if local is not None and meta.name not in local:
                    continue
                if self._elsewhere(meta):
                    continue  # served elsewhere; dependents get a client over a resolver
                if cls in self._primary and self._primary[cls].state is State.RUNNING:
                    continue
                inst = await start_one(
                    self,
                    cls,
                    self.mount_path(meta),
                    graph.edges.get(cls, []),
                    per_service.get(meta.name),
                    config_source,
                )
                started.append(inst)
        except BaseException:
            for inst in reversed(started):
                await stop_one(self, inst)
                self.instances.pop(inst.path, None)
            raise
        entry_cls = graph.entry
        return self._primary.get(entry_cls)

    def _check_deployment(self, graph: Graph) -> None:
        """Every section, key and binding of the deployment file must fit the services."""
        from ..config.check import check_deployment, known_sids

        assert self.deployment is not None
        metas = {m.name: m for m in (get_meta(c) for c in self.registry.classes())}
        metas.update({m.name: m for m in graph.metas()})
        sids = known_sids(metas.values(), self.registry.sids())
        check_deployment(self.deployment, metas, sids)

    # -- resolvers ------------------------------------------------------------------------------

    def add_resolver(self, resolver: Resolver) -> None:
        """Attach a way to reach services (one per ``name``; a second of a name replaces it)."""
        self.resolvers = [r for r in self.resolvers if r.name != resolver.name]
        self.resolvers.append(resolver)

    def resolver(self, name: str) -> Resolver | None:
        """The attached resolver called ``name`` (``http``, ``runtime``), or None."""
        return next((r for r in self.resolvers if r.name == name), None)

    def _elsewhere(self, meta: ServiceMeta) -> bool:
        return any(r.elsewhere(meta) for r in self.resolvers)

    def features_for(self, target: Instance) -> Any:
        """A Plug rooted at a local instance's features, from the first resolver offering one."""
        for r in self.resolvers:
            plug = r.features(target)
            if plug is not None:
                return plug
        return None

    def mount_path(self, meta: ServiceMeta) -> str:
        """Where a graph's instance of ``meta`` is mounted: ``ServiceArgs: path`` in the
        deployment file, else the service name."""
        if self.deployment is not None:
            section = self.deployment.section(meta.name)
            if section is not None and section.path is not None:
                return str(section.path.value)
        return meta.name

    async def start_instance(
        self,
        target: type | str,
        *,
        path: str | None = None,
        config: Mapping[str, Any] | None = None,
        config_source: str = "Host.start_instance(config=...)",
        state: StateDocument | bytes | str | Mapping[str, Any] | None = None,
    ) -> Instance:
        """Explicit creation: one new instance of a registered class or SID at ``path``.

        Its dependencies must already run in this host or be reachable through a resolver.
        ``state`` (a captured ``StateDocument``, its JSON or plain data) is restored before the
        instance's ``on_start`` hooks; a state it cannot take fails the start (``StateError``).
        """
        doc = None
        if state is not None:
            from ..state.document import read_document

            doc = read_document(
                state
                if isinstance(state, (bytes, str))
                else state
                if not isinstance(state, Mapping)
                else dict(state)
            )
        cls = self._entry_class(target)
        meta = get_meta(cls)
        graph = resolve_graph(cls, self._resolve_sid)
        for dep_cls in graph.order[:-1]:
            if dep_cls not in self._primary:
                await self.start(dep_cls)
        return await start_one(
            self, cls, path or meta.name, graph.edges.get(cls, []), config, config_source, doc
        )

    async def capture(self, path: str, *, drain_timeout: float = 10.0) -> StateDocument:
        """The state of the instance at ``path``, taken between requests (calls arriving
        meanwhile wait; see ``reverie._private.state.ops.capture``)."""
        from ..state.ops import capture

        return await capture(self.instance(path), drain_timeout)

    async def swap(
        self,
        path: str,
        target: type | str,
        *,
        config: Mapping[str, Any] | None = None,
        drain_timeout: float = 10.0,
    ) -> Instance:
        """Replace the implementation behind the instance at ``path`` (a class or SID) while it
        serves; the state moves over and dependents keep their clients. On failure the old
        implementation keeps serving and ``SwapError`` says why."""
        from ..state.swap import swap

        return await swap(self, path, target, config=config, drain_timeout=drain_timeout)

    async def restart_instance(
        self, path: str, *, config: Mapping[str, Any] | None = None, config_source: str = "code"
    ) -> Instance:
        """Stop an instance and start it again in place with new config values.

        The same ``Instance`` comes back up (a new object of the class, configured and linked
        again), so dependents' clients keep working without being relinked. A service with
        declared state keeps it: it is captured between requests, calls arriving meanwhile wait,
        and the new object is restored before its ``on_start`` hooks.
        """
        inst = self.instances.get(path.strip("/"))
        if inst is None:
            raise LookupError(f"no instance at path {path!r}")
        if inst.meta.state is not None and inst.state is State.RUNNING:
            from ..state.document import take_state
            from ..state.gate import quiesced

            async with quiesced(inst):
                await restart(self, inst, config, config_source, await take_state(inst))
            return inst
        await restart(self, inst, config, config_source, None)
        return inst

    # -- stopping -------------------------------------------------------------------------------

    async def stop_instance(self, path: str) -> Instance:
        """Stop one instance and free its path."""
        inst = self.instances.get(path.strip("/"))
        if inst is None:
            raise LookupError(f"no instance at path {path!r}")
        await stop_one(self, inst)
        del self.instances[inst.path]
        self.stopped[inst.path] = inst.meta.name
        return inst

    async def stop(self) -> None:
        """Stop every instance, dependents first."""
        for inst in reversed(list(self._order)):
            await stop_one(self, inst)
        self.instances.clear()

    async def __aenter__(self) -> Host:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<Host {self.name!r} {len(self.instances)} instances>"


#: What an instance was doing when it failed, by the state it had reached.
def _per_service_config(
    config: Mapping[str | type, Mapping[str, Any]] | None,
) -> dict[Any, Mapping[str, Any]]:
    out: dict[Any, Mapping[str, Any]] = {}
    for key, values in (config or {}).items():
        if isinstance(key, type) and is_service(key):
            out[get_meta(key).name] = values
        else:
            out[str(key)] = values
    return out
