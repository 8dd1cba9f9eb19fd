"""One instance up, down, and up again in place. Up: configure (a new object with its resolved
config), link (a client per dependency: in-process to a local instance, else a resolver's
transport), restore declared state, run ``on_start``. On failure what it acquired is released,
its path is freed and the error says in which step it failed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    ConfigError,
    ConfigRejectedError,
    MissingDependencyError,
    ReverieError,
    StartError,
    StateError,
)

from ..call.service_client import ServiceClient
from ..declare.service import get_meta
from ..transports.inprocess import InProcessTransport
from .instance import Instance, construct, mount_path_problem
from .lifecycle import State

if TYPE_CHECKING:
    from ..config.resolve import ResolvedConfig
    from ..state.document import StateDocument
    from .graph import Edge
    from .host import Host

__all__ = [
    "bring_up",
    "client_for",
    "configure",
    "link",
    "release",
    "restart",
    "start_one",
    "stop_one",
]

log = logging.getLogger("reverie.host")

_ACTIVITY = {
    State.CREATED: "configuring",
    State.CONFIGURED: "linking",
    State.LINKED: "starting",
    State.STARTING: "starting",
    State.RUNNING: "starting",
}


async def bring_up(
    host: Host,
    inst: Instance,
    config: Mapping[str, Any] | None,
    config_source: str,
    resolved: ResolvedConfig | None = None,
) -> None:
    """Configure, link and start ``inst``; on failure free its path and say where it failed.

    ``resolved`` (a config resolved before, with its layers) wins over ``config``."""
    try:
        inst.config = (
            resolved
            if resolved is not None
            else host.resolve_config(inst.cls, config, config_source)
        )
        configure(inst)
        await link(host, inst, inst.edges)
        if inst.meta.state is not None or inst.restore_from is not None:
            from ..state.ops import restore_pending

            await restore_pending(inst)
        inst.transition(State.STARTING)
        for listener in host.on_instance_starting:
            await listener(inst)
        await inst.run_hooks("on_start")
        inst.transition(State.RUNNING)
        for listener in host.on_instance_running:
            await listener(inst)
    except BaseException as exc:
        failed_in = (
            "restoring state"
            if isinstance(exc, StateError)
            else _ACTIVITY.get(inst.state, inst.state.value)
        )
        inst.restore_from = None
        await release(inst)
        inst.error = exc
        inst.failed_in = failed_in
        if inst.state is not State.FAILED:
            inst.transition(State.FAILED)
        host.instances.pop(inst.path, None)  # the path is free again
        if isinstance(exc, (ConfigError, MissingDependencyError, StateError)):
            raise
        if not isinstance(exc, Exception):
            raise
        log.error(
            "instance %s (%s) failed while %s: %s: %s",
            inst.path,
            inst.meta.name,
            failed_in,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        raise StartError(inst.path, failed_in, exc) from exc
    inst.error = inst.failed_in = None
    host._primary.setdefault(inst.cls, inst)
    host._order.append(inst)


async def restart(
    host: Host,
    inst: Instance,
    config: Mapping[str, Any] | None,
    config_source: str,
    state: StateDocument | None,
) -> None:
    old = inst.config
    await stop_one(host, inst)
    inst.clients = {}
    inst.restore_from = state
    inst.restarts += 1
    try:
        await bring_up(host, inst, config, config_source)
    except (StartError, ConfigError) as exc:
        if old is None:
            raise
        # The service refused the new values (its on_start raised, or they do not
        # resolve): bring it back as it was, so a bad PUT never removes a service.
        host.instances[inst.path] = inst
        inst.clients = {}
        inst.restore_from = state
        try:
            await bring_up(host, inst, None, config_source, resolved=old)
        except Exception as again:
            raise StartError(inst.path, "restoring its previous config", again) from exc
        raise ConfigRejectedError(inst.path, exc) from exc


def configure(inst: Instance) -> None:
    """A new object of the class, with its resolved config as attributes."""
    assert inst.config is not None
    inst.obj = construct(inst.cls, inst.config.by_attr())
    inst.transition(State.CONFIGURED)


async def link(host: Host, inst: Instance, edges: list[Edge]) -> None:
    """A client per dependency, set on the object; then its handlers are collected."""
    for edge in edges:
        client = await client_for(host, inst, edge)
        if isinstance(client, ServiceClient):
            client.track_edges(host.edges, inst.meta.name)
        inst.clients[edge.attribute] = client
        inst.obj.__dict__[edge.attribute] = client
    inst.collect_handlers()
    inst.linked = True
    inst.transition(State.LINKED)


async def client_for(host: Host, inst: Instance, edge: Edge) -> Any:
    """The dependency's client: in-process to a running local instance, else the first
    resolver's transport; None for an optional one nothing provides."""
    if edge.stand_in is not None:
        return edge.stand_in
    if edge.target is None:
        return None  # optional dependency that nothing provides
    meta = get_meta(edge.target)
    local = host._primary.get(edge.target)
    if local is not None and local.state is State.RUNNING:
        return ServiceClient(
            meta,
            InProcessTransport(local, serialize=host.serialize),
            features=lambda: host.features_for(local),
        )
    for resolver in host.resolvers:
        transport = await resolver.transport(edge, meta)
        if transport is not None:
            return ServiceClient(meta, transport, plug=getattr(transport, "plug", None))
    if edge.dependency.optional:
        return None
    raise MissingDependencyError(
        meta.sids[0] if meta.sids else meta.name,
        needed_by=f"{inst.meta.name}.{edge.attribute}",
    )


async def start_one(
    host: Host,
    cls: type,
    path: str,
    edges: list[Edge],
    config: Mapping[str, Any] | None,
    config_source: str,
    state: StateDocument | None = None,
) -> Instance:
    """A new instance of ``cls`` mounted at ``path``, brought up; the path must be free."""
    meta = get_meta(cls)
    path = path.strip("/")
    problem = mount_path_problem(path)
    if problem is not None:
        raise ConfigError(
            f"cannot mount {meta.name} at {path[:80]!r}: {problem}",
            key="path",
            fix="choose a path such as 'v1' or 'api/feed'",
        )
    if path in host.instances:
        existing = host.instances[path]
        if existing.state not in (State.STOPPED, State.FAILED):
            raise ReverieError(
                f"path {path!r} is in use by {existing.meta.name} ({existing.state})",
                fix="choose another path, or stop that instance first",
            )
    inst = Instance(host, cls, meta, path)
    inst.edges = edges
    inst.restore_from = state
    host.instances[path] = inst
    host.stopped.pop(path, None)
    await bring_up(host, inst, config, config_source)
    return inst


async def release(inst: Instance) -> None:
    """Give back what the host acquired for an instance: its clients' transports."""
    for client in inst.clients.values():
        aclose = getattr(client, "aclose", None)
        if isinstance(client, ServiceClient) and aclose is not None:
            try:
                await aclose()
            except Exception:  # pragma: no cover - best effort on the way down
                log.exception("closing a client of %s", inst.path)
    inst.clients.clear()


async def stop_one(host: Host, inst: Instance) -> None:
    """Run its ``on_shutdown`` hooks (errors logged), release it, mark it stopped."""
    if inst.state in (State.STOPPED,):
        return
    if inst.state is State.RUNNING:
        inst.transition(State.STOPPING)
        for listener in host.on_instance_stopping:
            try:
                await listener(inst)
            except Exception:
                log.exception("stop listener for %s", inst.path)
        try:
            await inst.run_hooks("on_shutdown")
        except Exception as exc:
            inst.error = exc
            log.exception(
                "on_shutdown of %s (%s) failed: %s: %s",
                inst.path,
                inst.meta.name,
                type(exc).__name__,
                exc,
            )
    await release(inst)
    _finish_stop(inst)
    if host._primary.get(inst.cls) is inst:
        del host._primary[inst.cls]
    if inst in host._order:
        host._order.remove(inst)


def _finish_stop(inst: Instance) -> None:
    """Move an instance to stopped from wherever stopping (or a rollback) left it."""
    if inst.state is State.STARTING:
        inst.transition(State.FAILED)
    inst.transition(State.STOPPED)
