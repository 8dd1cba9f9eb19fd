"""Migration over the runtime: move an instance from one process (or node) to another with the
swap's sequence, drain -> capture -> restore -> switch.

Every host attached to a NATS runtime answers on ``rvstate.<instance id>`` (its runtime's
instance id, as ``reverie ls nats://…`` lists it). ``migrate`` asks the source host; it holds
new calls to the instance and waits for the calls in flight, captures the state and asks the
destination host to ``receive`` it (start the same class at the same path from that state,
served on NATS before the reply comes). Then the source withdraws its instance and keeps it
mounted as a forwarder: held calls, calls already routed to it and its in-process dependents
go on to the destination (a direct route, so never back to itself). If the destination refuses
or fails, the source releases the held calls to its own instance, which kept its state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from typing import TYPE_CHECKING, Any

import msgspec

from reverie.errors import ReverieError, StateError, SwapError

from ..host.bringup import bring_up, configure, link, release, start_one, stop_one
from ..host.instance import Instance
from ..host.lifecycle import State
from ..runtime.routing import DirectRouter
from ..transports.nats import NatsTransport
from .document import StateDocument, apply_state, decode_state, read_document, take_state
from .gate import DRAIN_TIMEOUT, quiesced

if TYPE_CHECKING:
    from ..host.host import Host
    from ..runtime import DistributedRuntime

__all__ = [
    "CONTROL_PREFIX",
    "attach_migration",
    "control_subject",
    "discover_hosts",
    "request_migration",
    "request_swap",
]

log = logging.getLogger("reverie.state")

CONTROL_PREFIX = "rvstate"
PING_SUBJECT = f"{CONTROL_PREFIX}.hosts"  # every host answers: its id, pid and instances
#: How long the source waits for the destination to start the instance (seconds).
RECEIVE_TIMEOUT = 60.0
#: How long a source keeps receiving (and forwarding) after its registrations went (seconds).
RETIRE_GRACE = 3.0

_retiring: weakref.WeakKeyDictionary[Instance, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def control_subject(worker_id: str) -> str:
    return f"{CONTROL_PREFIX}.{worker_id}"


async def attach_migration(host: Host, runtime: DistributedRuntime) -> None:
    """Answer migration requests for ``host`` on its runtime's control subject."""

    async def on_request(msg: Any) -> None:
        try:
            req = msgspec.json.decode(msg.data)
            op = req.get("op") if isinstance(req, dict) else None
            if op == "migrate":
                answer = await _migrate_out(host, runtime, req)
            elif op == "receive":
                answer = await _receive(host, runtime, req)
            elif op == "swap":
                answer = await _swap(host, req)
            else:
                raise StateError(
                    f"unknown operation {op!r}; this host answers migrate, receive, swap"
                )
        except (ReverieError, LookupError) as exc:
            answer = {"error": str(exc)}
        except Exception as exc:  # a traceback in the log, a clean answer for the caller
            log.exception("state control request failed")
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        if msg.reply:
            await runtime.nc.publish(msg.reply, msgspec.json.encode(answer))

    async def on_ping(msg: Any) -> None:
        if msg.reply:
            running = sorted(
                p
                for p, i in host.instances.items()
                if i.state is State.RUNNING and i.forward is None
            )
            await runtime.nc.publish(
                msg.reply,
                msgspec.json.encode(
                    {
                        "worker": runtime.worker_id,
                        "pid": os.getpid(),
                        "host": host.name,
                        "instances": running,
                    }
                ),
            )

    await runtime.nc.subscribe(control_subject(runtime.worker_id), cb=on_request)
    await runtime.nc.subscribe(PING_SUBJECT, cb=on_ping)


async def discover_hosts(runtime: DistributedRuntime, wait: float = 0.5) -> list[dict[str, Any]]:
    """Every host on the runtime that can take a migration (those serving nothing included):
    its runtime instance id, pid, name and running instances."""
    found: list[dict[str, Any]] = []
    inbox = runtime.nc.new_inbox()

    async def collect(msg: Any) -> None:
        found.append(msgspec.json.decode(msg.data))

    sub = await runtime.nc.subscribe(inbox, cb=collect)
    try:
        await runtime.nc.publish(PING_SUBJECT, b"", reply=inbox)
        await runtime.nc.flush()
        await asyncio.sleep(wait)
    finally:
        await sub.unsubscribe()
    return found


def _local(host: Host, ns: str, component: str) -> Instance:
    from ..runtime.attach import runtime_address

    for inst in host.instances.values():
        if (
            inst.state is State.RUNNING
            and inst.forward is None
            and runtime_address(host, inst.meta) == (ns, component)
        ):
            return inst
    raise LookupError(
        f"no running instance of {ns}/{component} in this process (host {host.name!r})"
    )


async def _swap(host: Host, req: dict[str, Any]) -> dict[str, Any]:
    """A live swap asked over the runtime (``reverie swap nats://…``)."""
    inst = _local(host, str(req["namespace"]), str(req["component"]))
    before = inst.meta.qualname
    await host.swap(inst.path, str(req["to"]), config=req.get("config") or None)
    return {"swapped": inst.path, "from": before, "to": inst.meta.qualname}


async def _migrate_out(
    host: Host, runtime: DistributedRuntime, req: dict[str, Any]
) -> dict[str, Any]:
    """Move a local instance to the process ``req["to"]``: drain, capture, hand over, switch."""
    from ..contract.blueprint import class_ref

    ns, component, to = str(req["namespace"]), str(req["component"]), str(req["to"])
    if to == runtime.worker_id:
        raise SwapError(f"{ns}/{component}", "the destination is the process it runs in")
    inst = _local(host, ns, component)
    drain = float(req.get("drain_timeout") or DRAIN_TIMEOUT)
    config = {k: rv.value for k, rv in (inst.config or {}).items()}
    t0 = time.monotonic()
    async with quiesced(inst, drain):
        doc = await take_state(inst) if inst.meta.state is not None else None
        body = {
            "op": "receive",
            "class": class_ref(inst.cls),
            "path": inst.path,
            "config": config,
            "state": doc.to_dict() if doc is not None else None,
        }
        await _hand_over(runtime, inst, to, body)
        await _switch(runtime, inst, ns, component, to)
    _retiring[inst] = asyncio.get_running_loop().create_task(_retire_later(host, inst))
    held_ms = round((time.monotonic() - t0) * 1000, 2)
    log.warning(
        "%s (%s/%s) migrated to %s (calls held %.1f ms); this process forwards what "
        "still reaches it",
        inst.path,
        ns,
        component,
        to,
        held_ms,
    )
    return {
        "migrated": inst.path,
        "from": runtime.worker_id,
        "to": to,
        "held_ms": held_ms,
        "state": None if doc is None else {"name": doc.name, "version": doc.version},
    }


async def _hand_over(
    runtime: DistributedRuntime, inst: Instance, to: str, body: dict[str, Any]
) -> None:
    """Ask the destination ``to`` to receive ``inst``; raise ``SwapError`` if it cannot."""
    try:
        reply = await runtime.nc.request(
            control_subject(to), msgspec.json.encode(body), timeout=RECEIVE_TIMEOUT
        )
    except Exception as exc:
        raise SwapError(
            inst.path,
            f"the destination {to} did not answer "
            f"({type(exc).__name__}: {exc}); the instance keeps "
            f"serving here",
        ) from None
    answer = msgspec.json.decode(reply.data)
    if "error" in answer:
        raise SwapError(
            inst.path,
            f"the destination {to} refused it: {answer['error']}; the instance keeps serving here",
        )


async def _switch(
    runtime: DistributedRuntime, inst: Instance, ns: str, component: str, to: str
) -> None:
    """Forward ``inst``'s calls to ``to`` once it is seen serving, and withdraw it here."""
    from ..runtime.routing import direct

    # Switch: calls that reach this instance from now on go to the destination, once this
    # process sees it serving (its registration may still be on its way).
    forward = _Forward(runtime, ns, component, router=direct(to))
    for ep in inst.meta.endpoints.values():
        client = forward.client_for(ep)

        def seen(c: Any = client) -> list[str]:
            return [i for i in c.workers() if i == to]

        await client.watcher.wait_for(1, RECEIVE_TIMEOUT, seen)
    inst.forward = forward
    # Callers stop routing here (the registrations go now), but the subscriptions stay for
    # RETIRE_GRACE seconds, so requests already on their way are received and forwarded
    # rather than dropped with the subscription; then the instance stops for good.
    for served in _served_of(runtime, ns, component, inst):
        await runtime.leases.release(served.key)


class _Forward(NatsTransport):
    """Where a migrated instance's calls go: one instance, by a direct route."""

    def describe(self) -> str:
        router = self.router
        where = f" worker {router.worker_id}" if isinstance(router, DirectRouter) else ""
        return f"{super().describe()}{where}"


def _served_of(runtime: DistributedRuntime, ns: str, component: str, inst: Instance) -> list[Any]:
    """The runtime's served endpoints of ``inst``, its features included (the NATS layer
    keeps them)."""
    from ..runtime.features import FEATURES_ENDPOINT

    return [
        s
        for s in runtime.served()
        if (s.ns, s.component) == (ns, component)
        and (s.name in inst.meta.endpoints or s.name == FEATURES_ENDPOINT)
    ]


async def _retire_later(host: Host, inst: Instance) -> None:
    await asyncio.sleep(RETIRE_GRACE)
    _retiring.pop(inst, None)
    if inst.forward is not None and inst.state is State.RUNNING:
        await stop_one(host, inst)  # unsubscribes; it stays mounted as a forwarder


async def _revive(
    host: Host,
    runtime: DistributedRuntime,
    inst: Instance,
    doc: StateDocument | None,
    config: dict[str, Any],
) -> None:
    """The instance comes back to a process whose forwarder is still subscribed: a new object
    from the state, switched in place, registered again (the subscriptions never went)."""
    from .swap import _retire, _switch

    task = _retiring.pop(inst, None)
    if task is not None:
        task.cancel()
    shadow = Instance(host, inst.cls, inst.meta, inst.path)
    shadow.edges = inst.edges
    shadow.config = host.resolve_config(inst.cls, config, "migration")
    configure(shadow)
    await link(host, shadow, shadow.edges)
    try:
        if doc is not None:
            await apply_state(shadow, await decode_state(shadow.meta, shadow.obj, doc))
        shadow.transition(State.STARTING)
        await shadow.run_hooks("on_start")
    except BaseException:
        await release(shadow)
        raise
    old = _switch(host, inst, shadow)
    inst.forward = None
    inst.accepting = inst.hold is None
    from ..runtime.attach import runtime_address
    from ..transports.codec import msgpack_encode

    ns, comp = runtime_address(host, inst.meta)
    for served in _served_of(runtime, ns, comp, inst):
        await runtime.leases.acquire(served.key, msgpack_encode(served.registration()))
    await _retire(host, old)


async def _receive(host: Host, runtime: DistributedRuntime, req: dict[str, Any]) -> dict[str, Any]:
    from ..host.graph import resolve_graph
    from ..importer import import_ref

    cls = import_ref(str(req["class"]), kind="service")
    path = str(req["path"])
    doc = read_document(req["state"]) if req.get("state") is not None else None
    existing = host.instances.get(path)
    config = req.get("config") or {}
    if existing is not None and existing.state is State.RUNNING:
        if existing.forward is None or existing.cls is not cls:
            raise SwapError(path, f"this process already runs {existing.meta.name} at {path!r}")
        await _revive(host, runtime, existing, doc, config)
        inst = existing
    elif existing is not None and existing.cls is cls and existing.forward is not None:
        # It comes back to a process it once left: the forwarder serves again, so this
        # process's dependents (whose clients point at it) reach it directly once more.
        existing.forward, existing.restore_from, existing.clients = None, doc, {}
        await bring_up(host, existing, config, "migration")
        inst = existing
    else:
        if existing is not None:
            del host.instances[path]  # something stopped or failed at that path
        host.register(cls)
        edges = resolve_graph(cls, host._resolve_sid).edges.get(cls, [])
        inst = await start_one(host, cls, path, edges, config, "migration", doc)
    log.warning(
        "%s (%s) received by migration%s",
        path,
        inst.meta.name,
        "" if doc is None else f" with state {doc.name} version {doc.version}",
    )
    return {"received": path}


async def request_swap(
    runtime: DistributedRuntime,
    namespace: str,
    component: str,
    source: str,
    to: str,
    config: dict[str, Any] | None = None,
    timeout: float = RECEIVE_TIMEOUT,
) -> dict[str, Any]:
    """Ask the host of runtime instance ``source`` to swap ``namespace/component`` live."""
    body = {
        "op": "swap",
        "namespace": namespace,
        "component": component,
        "to": to,
        "config": config,
    }
    reply = await runtime.nc.request(
        control_subject(source), msgspec.json.encode(body), timeout=timeout
    )
    answer: dict[str, Any] = msgspec.json.decode(reply.data)
    return answer


async def request_migration(
    runtime: DistributedRuntime,
    namespace: str,
    component: str,
    source: str,
    to: str,
    timeout: float = RECEIVE_TIMEOUT + 10.0,
) -> dict[str, Any]:
    """Ask the host of runtime instance ``source`` to move ``namespace/component`` to ``to``."""
    body = {"op": "migrate", "namespace": namespace, "component": component, "to": to}
    reply = await runtime.nc.request(
        control_subject(source), msgspec.json.encode(body), timeout=timeout
    )
    answer: dict[str, Any] = msgspec.json.decode(reply.data)
    return answer
