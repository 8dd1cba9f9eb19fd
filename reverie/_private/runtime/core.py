"""The distributed runtime: one NATS connection per process, shared by every served endpoint
and every client in it.

It owns the reply inbox (one wildcard subscription; replies are routed to waiting calls by
subject, no Task per message), the control subject callers use to grant credit and cancel, the
timer that sends heartbeats for running calls and watches the liveness of outgoing calls, the
worker leases and the KV watchers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from reverie.errors import ConfigError, TransportError, UnavailableError, WorkerLostError

from ..call.context import RequestContext
from ..redact import shown_url
from ..transports.codec import msgpack_encode
from . import wire
from .blueprints import BlueprintStore
from .connection import close_quietly, ensure_buckets, open_nats, wait_or_fail
from .direct import DirectPlane, direct_setting
from .discovery import Leases, WorkerWatcher, read_registrations
from .heartbeat import Heartbeat
from .inbound import control, on_ctl, on_reply
from .tables import CallTable, ServingTable

if TYPE_CHECKING:
    from .addressing import Namespace
    from .calls import OutgoingCall
    from .direct import DirectLink
    from .micro import MicroResponder
    from .server import Served

__all__ = ["DistributedRuntime"]

log = logging.getLogger("reverie.runtime")


class DistributedRuntime:
    """Serve endpoints and call them across processes and machines, joined through NATS."""

    def __init__(
        self,
        url: str,
        worker_id: str,
        lease_ttl: float,
        replicas: int = 1,
        direct: bool | None = False,
        direct_host: str | None = None,
    ) -> None:
        #: the NATS URL(s) as messages show them (password masked; the connection has the real one)
        self.url = shown_url(url)
        #: copies JetStream keeps of each runtime bucket (3 in a 3-member cluster)
        self.replicas = replicas
        self.worker_id = wire.check_token("worker", worker_id)
        self.workers_bucket = wire.WORKERS_BUCKET
        self.blueprints_bucket = wire.BLUEPRINTS_BUCKET
        self.leases = Leases(self, lease_ttl)
        self.nc: Any = None
        self._js: Any = None
        self._kv_workers: Any = None
        self._inbox = ""
        #: the calls this process makes, and the calls it serves
        self.calls = CallTable()
        self.serving = ServingTable()
        self.blueprints = BlueprintStore(None)
        self._heartbeat = Heartbeat(self.calls, self.serving, self._nats_up, self.send_ctl)
        self._suspects: dict[str, float] = {}
        self._watchers: dict[str, WorkerWatcher] = {}
        self._connected = asyncio.Event()
        self._closing = False
        self._closed = False
        self._served: list[Served] = []
        self.micro: MicroResponder | None = None
        self._bg: set[asyncio.Task[Any]] = set()
        #: the direct data plane (None: every call over NATS)
        self.direct: DirectPlane | None = None
        if direct_setting(direct):
            self.direct = DirectPlane(self, direct_host)

    # -- connecting ------------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        worker_id: str | None = None,
        lease_ttl: float = 10.0,
        connect_timeout: float = 5.0,
        replicas: int = 1,
        direct: bool | None = None,
        direct_host: str | None = None,
        **nats_options: Any,
    ) -> DistributedRuntime:
        """Connect to NATS at ``url`` (several members of a cluster: comma-separated URLs; the
        client also learns the others from the server and reconnects to any of them).
        ``replicas``: copies of the runtime's KV buckets when this process creates them (3 in a
        3-member cluster, so losing one member loses no lease or blueprint). ``nats_options``
        (credentials, TLS, ...) go to ``nats.connect``; reconnection is on and unlimited unless
        you say otherwise.

        ``direct``: serve and call other processes over direct connections (a Unix socket on
        the same machine, TCP bound on ``direct_host`` otherwise), NATS staying the control
        plane; default on, ``$REVERIE_DIRECT=0`` turns it off. ``direct_host`` defaults to
        ``$REVERIE_DIRECT_HOST``, else 127.0.0.1."""
        if replicas < 1 or replicas > 5:
            raise ConfigError(
                f"replicas must be 1 to 5 (JetStream's limit), got {replicas}",
                key="replicas",
                fix="use 1 for one server, 3 for a 3-member cluster",
            )
        rt = cls(url, worker_id or os.urandom(8).hex(), lease_ttl, replicas, direct, direct_host)
        nc = await open_nats(
            url,
            connect_timeout,
            f"reverie-{rt.worker_id}",
            on_disconnected=rt._on_disconnected,
            on_reconnected=lambda: rt.spawn(rt._on_reconnected()),
            on_closed=rt._connected.clear,
            nats_options=nats_options,
        )
        rt.nc = nc
        try:
            await rt._setup()
        except BaseException:
            rt._closing = rt._closed = True
            if rt.direct is not None:
                await rt.direct.close()
            await close_quietly(nc)
            raise
        return rt

    async def _setup(self) -> None:
        nc = self.nc
        self._js = nc.jetstream()
        await self._ensure_buckets()
        self._inbox = nc.new_inbox()
        await nc.subscribe(self._inbox + ".*", cb=partial(on_reply, self.calls))
        await nc.subscribe(wire.ctl_subject(self.worker_id), cb=partial(on_ctl, self.serving))
        if self.direct is not None:
            await self.direct.start()
        self._connected.set()
        self._heartbeat.start()

    async def _ensure_buckets(self) -> None:
        kvs = await ensure_buckets(
            self._js, self.url, self.replicas, (self.workers_bucket, self.blueprints_bucket)
        )
        self._kv_workers = kvs[0]
        self.blueprints.use(kvs[1])

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background; cancelled when the runtime closes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # -- addressing ------------------------------------------------------------------------------

    def namespace(self, ns: str) -> Namespace:
        from .addressing import Namespace

        return Namespace(self, wire.check_token("namespace", ns))

    # -- blueprints ------------------------------------------------------------------------------

    async def put_blueprint(self, ns: str, component: str, blueprint_json: str) -> None:
        """Publish a component's blueprint (JSON text) so hosts that know it only remotely can
        build clients for it."""
        await self.blueprints.put(ns, component, blueprint_json)

    async def get_blueprint(self, ns: str, component: str) -> str | None:
        """The blueprint JSON a host published for ``ns/component``, or None."""
        return await self.blueprints.get(ns, component)

    async def delete_blueprint(self, ns: str, component: str) -> None:
        await self.blueprints.delete(ns, component)

    # -- the parts other modules use ---------------------------------------------------------------

    @property
    def js(self) -> Any:
        """The JetStream context (leases publish through it)."""
        return self._js

    @property
    def workers_kv(self) -> Any:
        """The workers bucket (watchers read it)."""
        return self._kv_workers

    def served(self) -> list[Served]:
        """The endpoints this process serves now."""
        return list(self._served)

    def add_served(self, served: Served) -> None:
        self._served.append(served)

    def remove_served(self, served: Served) -> None:
        if served in self._served:
            self._served.remove(served)

    def nats_up(self) -> bool:
        return self._nats_up()

    def _nats_up(self) -> bool:
        return bool(self.nc is not None and self.nc.is_connected)

    # -- discovery -------------------------------------------------------------------------------

    def watcher(self, pattern: str, label: str) -> WorkerWatcher:
        """The shared watcher of a KV key pattern, started on first use."""
        if self._closing:
            raise TransportError(
                f"{label}: the runtime is closed; fix: connect a new DistributedRuntime"
            )
        w = self._watchers.get(pattern)
        if w is None:
            w = self._watchers[pattern] = WorkerWatcher(self, pattern, label)
            w.on_change(self._worker_changed)
            w.start()
        return w

    def live(self, ids: list[str]) -> list[str]:
        """``ids`` without the workers this process suspects are dead."""
        if not self._suspects:
            return ids
        now = time.monotonic()
        out = []
        for iid in ids:
            until = self._suspects.get(iid)
            if until is None:
                out.append(iid)
            elif until < now:
                del self._suspects[iid]
                out.append(iid)
        return out

    def has_suspects(self) -> bool:
        return bool(self._suspects)

    def forget_suspects(self) -> None:
        """Route to every live worker again (tests and benchmarks that restart peers)."""
        self._suspects.clear()

    def suspect(self, iid: str) -> None:
        """Stop routing to ``iid`` until it refreshes its lease (or its lease would expire)."""
        self._suspects[iid] = time.monotonic() + self.leases.ttl + 1.0

    def _worker_changed(self, iid: str, alive: bool, crashed: bool) -> None:
        if alive:
            self._suspects.pop(iid, None)
            return
        if not crashed:
            return  # a clean goodbye: its calls in flight still finish (graceful close)
        for call in self.calls.snapshot(lambda c: c.iid == iid):
            call.lost("its lease expired: the process stopped refreshing it")

    async def registrations(self) -> list[dict[str, Any]]:
        """Every registration in the workers bucket (one per worker and endpoint); a
        TransportError naming the bucket when it cannot be read (never an empty list)."""
        return await read_registrations(self)

    async def wait_for_component(
        self, ns: str, component: str, n: int = 1, timeout: float | None = 10.0
    ) -> list[str]:
        """Wait until ``ns/component`` has ``n`` live workers: the readiness primitive for a
        service whose required dependency runs elsewhere. Raises NoWorkersError on timeout."""
        w = self.watcher(f"{ns}.{component}.>", f"{ns}/{component}")
        return await w.wait_for(n, timeout, lambda: self.live(w.ids))

    # -- connection events -------------------------------------------------------------------------

    def _on_disconnected(self) -> None:
        self._connected.clear()
        if self._closing:
            return
        # Calls on the direct plane go on: only the broker went away.
        for call in self.calls.snapshot(lambda c: c.link is None):
            call.fail_transport("the connection to NATS was lost mid-call")
        for sc in self.serving.snapshot(lambda sc: not sc.direct):
            sc.cancel()

    async def _on_reconnected(self) -> None:
        self._connected.set()
        try:
            await self._ensure_buckets()
        except Exception as exc:
            log.warning("after reconnecting: %s", exc)
        for w in self._watchers.values():
            w.restart()
        await self.leases.refresh_all()

    async def wait_connected(self, ctx: RequestContext | None, what: str) -> None:
        """Wait for a reconnect (bounded by the deadline, else 10 s)."""
        if self._closed:
            raise TransportError(f"{what}: the runtime is closed")
        timeout = 10.0
        rem = ctx.remaining() if ctx is not None else None
        if rem is not None:
            timeout = max(0.0, min(timeout, rem))
        await wait_or_fail(
            self._connected,
            timeout,
            f"{what}: not connected to NATS at {self.url} (waited {timeout:.1f} s for a "
            f"reconnect); fix: check that nats-server is running",
        )

    # -- wire plumbing -----------------------------------------------------------------------------

    def next_reply(self) -> str:
        return f"{self._inbox}.{self.calls.next_id()}"

    def control(self, frame: Any, key: Any) -> None:
        """A caller's control frame (credit, cancel, keepalive) for the call served under
        ``key`` (its reply subject on NATS, (connection, call id) on the direct plane)."""
        control(self.serving, frame, key)

    def call_for(self, key: Any) -> OutgoingCall | None:
        """The outgoing call under ``key`` (reply subject, or direct call id), if in flight."""
        return self.calls.get(key)

    def caller_gone(self, conn: Any) -> None:
        """A direct caller's connection closed: stop the calls it made here."""
        for sc in self.serving.snapshot(lambda sc: type(sc.key) is tuple and sc.key[0] is conn):
            sc.cancel()

    def link_lost(self, link: DirectLink, reason: str) -> None:
        """The direct connection to a peer closed: its calls in flight lost their worker."""
        for call in self.calls.snapshot(lambda c: c.link is link):
            call.lost(reason)

    @property
    def closing(self) -> bool:
        return self._closing

    async def send_ctl(self, iid: str, frame: list[Any]) -> None:
        """A control frame to worker ``iid`` over NATS; a failure is logged, never raised
        (the call it concerns ends by its own deadline or liveness check)."""
        try:
            await self.nc.publish(wire.ctl_subject(iid), msgpack_encode(frame))
        except Exception as exc:
            log.info("could not send a control frame %r to worker %s: %s", frame[:2], iid, exc)

    def send_ctl_soon(self, iid: str, frame: list[Any]) -> None:
        """Send a control frame from synchronous code (a callback or a cancelled task)."""
        if self.nc is not None and not self.nc.is_closed:
            self.spawn(self.send_ctl(iid, frame))

    # -- shutdown ----------------------------------------------------------------------------------

    async def close(self, grace: float = 2.0) -> None:
        """Deregister every worker at once (callers stop routing here), give the calls being
        served ``grace`` seconds to finish, end the rest with WorkerLostError, then drain.
        Each step runs even when the one before failed (the failure is logged)."""
        if self._closed:
            return
        self._closing = True
        await self._step("delete the leases", self.leases.close())
        for served in list(self._served):
            await self._step(f"stop serving {served.name}", served.stop(deregister=False))
        if self.serving and grace > 0:
            await self.serving.drain(grace)
        for sc in self.serving.snapshot():
            sc.shutdown()
        if self.serving and not await self.serving.drain(1.0):
            log.warning("%d call(s) still running 1 s after the shutdown", len(self.serving))
        # each watch deletes its consumer as it ends: wait for that before the connection goes
        ending = [t for t in (w.stop() for w in self._watchers.values()) if t is not None]
        if ending:
            await asyncio.wait(ending, timeout=3.0)
        self._heartbeat.stop()
        for call in self.calls.snapshot():
            call.fail(UnavailableError("the runtime was closed while the call was in flight"))
        if self.direct is not None:
            await self._step("close the direct plane", self.direct.close())
        self._closed = True
        for task in list(self._bg):
            task.cancel()
        nc = self.nc
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.drain(), 5.0)
            except Exception as exc:
                log.info("draining the NATS connection failed (%s); closing it", exc)
                await close_quietly(nc)

    async def _step(self, what: str, aw: Any) -> None:
        try:
            await aw
        except Exception:
            log.exception("closing the runtime: could not %s", what)

    async def __aenter__(self) -> DistributedRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"DistributedRuntime({self.url}, worker={self.worker_id})"


def lost_error(what: str, iid: str, reason: str, request_id: str | None) -> WorkerLostError:
    return WorkerLostError(
        f"{what}: worker {iid} was lost mid-call ({reason}); the call may or may not have run",
        request_id=request_id,
    )
