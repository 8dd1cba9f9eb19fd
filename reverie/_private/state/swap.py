"""Live swap: replace the implementation behind a mounted instance while it serves.

The new object is configured and linked aside; then the gate closes (new calls wait, bounded),
the calls in flight on the old object finish, the state is captured and restored into the new
object, its ``on_start`` hooks run, and the instance switches to it in place: the same
``Instance`` (so the HTTP mount, NATS subscriptions and every dependent's client stay as they
are) now carries the new class, object and handlers. The held calls then go to the new object,
and the old one's ``on_shutdown`` hooks run. Any failure before the switch leaves the old object
serving, untouched, and raises ``SwapError`` naming the step and the cause.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reverie.errors import ReverieError, SwapError

from ..declare.service import ServiceMeta, get_meta, is_service
from ..host.bringup import configure, link, release
from ..host.graph import resolve_graph
from ..host.instance import Instance
from ..host.lifecycle import State
from .document import apply_state, decode_state, take_state
from .gate import DRAIN_TIMEOUT, quiesced

if TYPE_CHECKING:
    from ..host.host import Host

__all__ = ["swap"]

log = logging.getLogger("reverie.state")


def _resolve(host: Host, target: type | str) -> type:
    if isinstance(target, type):
        if not is_service(target):
            raise SwapError("?", f"{target!r} is not a service class")
        return target
    if target.startswith("sid://"):
        return host.registry.resolve(target, needed_by="swap")
    for cls in host.registry.classes():
        from ..contract.blueprint import class_ref

        if target in (class_ref(cls), get_meta(cls).name):
            return cls
    if ":" in target:
        from ..importer import import_ref

        found = import_ref(target)
        if is_service(found):
            host.register(found)
            return typing.cast(type, found)
    raise LookupError(
        f"no service class {target!r} in this host; register it, or name it as "
        f"module:Class or by SID"
    )


def _check_replaces(path: str, old_meta: ServiceMeta, new_meta: ServiceMeta) -> None:
    """The new class may replace the old: the same SID (or name, without one), and state
    that is not lost."""
    if not old_meta.sids and new_meta.name != old_meta.name:
        raise SwapError(
            path,
            f"{old_meta.name} declares no SID, so only another implementation named "
            f"{old_meta.name!r} can replace it, not {new_meta.name!r}",
            fix="give both @service(sid=...) the same SID, or @service(name=...) the same name",
        )
    if old_meta.sids and not set(old_meta.sids) & set(new_meta.sids):
        raise SwapError(
            path,
            f"{new_meta.name} implements {', '.join(new_meta.sids) or 'no SID'}, not "
            f"{', '.join(old_meta.sids)}",
            fix="swap in an implementation of the same SID",
        )
    if old_meta.state is not None and new_meta.state is None:
        raise SwapError(
            path,
            f"{new_meta.name} declares no state, so {old_meta.name}'s state would be lost",
            fix="declare @state.snapshot/@state.restore on the new implementation",
        )


async def swap(
    host: Host,
    path: str,
    target: type | str,
    *,
    config: Mapping[str, Any] | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> Instance:
    path = path.strip("/")
    inst = host.instances.get(path)
    if inst is None:
        raise LookupError(
            f"no instance at path {path!r}; instances: {', '.join(host.instances) or 'none'}"
        )
    if inst.state is not State.RUNNING:
        raise SwapError(path, f"the instance is {inst.state}, not running")
    try:
        new_cls = _resolve(host, target)
    except (LookupError, ReverieError) as exc:
        raise SwapError(path, str(exc)) from None
    new_meta = get_meta(new_cls)
    old_meta = inst.meta
    _check_replaces(path, old_meta, new_meta)
    # The new object, configured and linked aside: the old one serves meanwhile.
    graph = resolve_graph(new_cls, host._resolve_sid)
    for dep_cls in graph.order[:-1]:
        if dep_cls not in host._primary:
            await host.start(dep_cls)
    shadow = Instance(host, new_cls, new_meta, path)
    shadow.edges = graph.edges.get(new_cls, [])
    step = "configuring"
    try:
        shadow.config = host.resolve_config(new_cls, config, "swap(config=...)")
        configure(shadow)
        step = "linking"
        await link(host, shadow, shadow.edges)
        step = "draining"
        async with quiesced(inst, drain_timeout):
            if old_meta.state is not None:
                step = "capturing"
                doc = await take_state(inst)
                step = "restoring"
                await apply_state(shadow, await decode_state(new_meta, shadow.obj, doc))
            step = "starting"
            shadow.transition(State.STARTING)
            await shadow.run_hooks("on_start")
            old = _switch(host, inst, shadow)
    except Exception as exc:
        await release(shadow)
        log.error("swap of %s to %s failed while %s: %s", path, new_meta.name, step, exc)
        raise SwapError(
            path,
            f"{_label(new_meta)} failed while {step}: "
            f"{type(exc).__name__}: {exc}; {_label(old_meta)} keeps "
            f"serving",
        ) from exc
    log.warning("%s swapped live: %s -> %s", path, _label(old_meta), _label(new_meta))
    await _retire(host, old)
    return inst


def _label(meta: Any) -> str:
    """``Counter``, or ``Counter (CounterV2)`` when the class is named otherwise."""
    cls_name = meta.cls.__name__
    return str(meta.name) if meta.name == cls_name else f"{meta.name} ({cls_name})"


class _Old:
    """What the instance carried before the switch, so its hooks and clients can be retired."""

    def __init__(self, inst: Instance) -> None:
        self.path = inst.path
        self.meta = inst.meta
        self.obj = inst.obj
        self.clients = inst.clients


def _switch(host: Host, inst: Instance, shadow: Instance) -> _Old:
    """Point the mounted instance at the new object; no await, so no call sees a mix."""
    old = _Old(inst)
    if host._primary.get(inst.cls) is inst:
        del host._primary[inst.cls]
    inst.cls, inst.meta, inst.obj = shadow.cls, shadow.meta, shadow.obj
    inst.config, inst.clients, inst.edges = shadow.config, shadow.clients, shadow.edges
    inst.handlers = shadow.handlers
    inst.routes = None  # the HTTP layer builds the new class's route table
    host._primary.setdefault(inst.cls, inst)
    for sid in inst.meta.sids:
        host.registry.bind(sid, inst.cls)
    return old


async def _retire(host: Host, old: _Old) -> None:
    """The old object's ``on_shutdown`` hooks and clients, after the switch (errors logged)."""
    import inspect

    for name in old.meta.hooks.get("on_shutdown", []):
        try:
            result = getattr(old.obj, name)()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_shutdown of the swapped-out %s at %s", old.meta.name, old.path)
    for client in old.clients.values():
        aclose = getattr(client, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                log.exception("closing a client of the swapped-out %s", old.meta.name)
