"""The distributed runtime: one NATS connection per process, shared by every served endpoint
and every client in it.

It owns the reply inbox (one wildcard subscription; replies are routed to waiting calls by
subject, no Task per message), the control subject callers use to grant credit and cancel, the
timer that sends heartbeats for running calls and watches the liveness of outgoing calls, the
worker leases and the KV watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from reverie.errors import ConfigError, TransportError, UnavailableError, WorkerLostError

from ..call.context import RequestContext
from ..transports.codec import msgpack_decode, msgpack_encode
from . import wire
from .direct import DirectPlane, direct_setting
from .discovery import Leases, WorkerWatcher

if TYPE_CHECKING:
    from .addressing import Namespace
    from .calls import OutgoingCall
    from .direct import DirectLink
    from .micro import MicroResponder
    from .server import ServerCall

__all__ = ["DistributedRuntime"]

log = logging.getLogger("reverie.runtime")

_STATUS = "Status"
#: seconds a new process waits for a forming JetStream cluster to accept the runtime's buckets
BUCKET_PATIENCE = 20.0


async def js_retry(fn: Any, what: str, patience: float = 10.0) -> Any:
    """``await fn()``, retried while JetStream answers "no response from stream" or times out
    (a replicated stream electing a leader, after a member died or when it was just made)."""
    import nats.errors
    import nats.js.errors

    deadline = time.monotonic() + patience
    while True:
        try:
            return await fn()
        except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError) as exc:
            if time.monotonic() >= deadline:
                raise TransportError(f"{what}: JetStream did not answer for {patience:g} s "
                                     f"({exc}); fix: check that the NATS cluster has a "
                                     f"quorum of its members up") from None
            log.debug("%s: %s; retrying", what, exc)
            await asyncio.sleep(0.2)


def _permanent(exc: Exception) -> bool:
    """An answer that waiting will not change (permissions, JetStream off, a bad config)."""
    import nats.errors
    import nats.js.errors

    if isinstance(exc, nats.errors.NoRespondersError):
        return True  # nobody serves the JetStream API: JetStream is off
    if isinstance(exc, nats.js.errors.ServiceUnavailableError) and not exc.err_code:
        return True  # the same, as nats-py reports it (a forming cluster gives err_code 10008)
    text = str(exc).lower()
    return any(w in text for w in ("permission", "not enabled", "invalid", "authorization",
                                    "not supported"))


class DistributedRuntime:
    """Serve endpoints and call them across processes and machines, joined through NATS."""

    def __init__(self, url: str, worker_id: str, lease_ttl: float, replicas: int = 1,
                 direct: bool | None = False, direct_host: str | None = None) -> None:
        self.url = url
        #: copies JetStream keeps of each runtime bucket (3 in a 3-member cluster)
        self.replicas = replicas
        self.worker_id = wire.check_token("worker", worker_id)
        self.workers_bucket = wire.WORKERS_BUCKET
        self.blueprints_bucket = wire.BLUEPRINTS_BUCKET
        self.leases = Leases(self, lease_ttl)
        self.nc: Any = None
        self._js: Any = None
        self._kv_workers: Any = None
        self._kv_blueprints: Any = None
        self._inbox = ""
        self._seq = itertools.count(1)
        #: outgoing calls by reply subject
        self._calls: dict[Any, OutgoingCall] = {}
        #: calls this process is serving, by the caller's reply subject
        self._serving: dict[Any, ServerCall] = {}
        self._inflight: defaultdict[str, int] = defaultdict(int)
        self._suspects: dict[str, float] = {}
        self._watchers: dict[str, WorkerWatcher] = {}
        self._connected = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._served: list[Any] = []
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
        import nats.aio.client

        if replicas < 1 or replicas > 5:
            raise ConfigError(f"replicas must be 1 to 5 (JetStream's limit), got {replicas}",
                              key="replicas", fix="use 1 for one server, 3 for a 3-member "
                              "cluster")
        servers = [u.strip() for u in url.split(",") if u.strip()]
        rt = cls(url, worker_id or os.urandom(8).hex(), lease_ttl, replicas, direct,
                 direct_host)
        user_cbs = {k: nats_options.pop(k, None) for k in
                    ("disconnected_cb", "reconnected_cb", "error_cb", "closed_cb")}

        async def disconnected() -> None:
            rt._on_disconnected()
            if user_cbs["disconnected_cb"]:
                await user_cbs["disconnected_cb"]()

        async def reconnected() -> None:
            rt._spawn(rt._on_reconnected())
            if user_cbs["reconnected_cb"]:
                await user_cbs["reconnected_cb"]()

        async def error(exc: Exception) -> None:
            log.debug("nats error: %s", exc)
            if user_cbs["error_cb"]:
                await user_cbs["error_cb"](exc)

        async def closed() -> None:
            rt._connected.clear()
            if user_cbs["closed_cb"]:
                await user_cbs["closed_cb"]()

        opts: dict[str, Any] = {
            "name": f"reverie-{rt.worker_id}",
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.25,
            "connect_timeout": 2,
            "ping_interval": 5,
            "max_outstanding_pings": 2,
            # several URLs: in the order given (list the local member first), not shuffled
            "dont_randomize": True,
        }
        opts.update(nats_options)
        nc = nats.aio.client.Client()
        try:
            await asyncio.wait_for(
                nc.connect(servers=servers, disconnected_cb=disconnected,
                           reconnected_cb=reconnected, error_cb=error, closed_cb=closed, **opts),
                connect_timeout,
            )
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                await nc.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc) or \
                type(exc).__name__
            raise TransportError(
                f"cannot connect to NATS at {url} ({reason}) within {connect_timeout} s; "
                f"fix: start nats-server there (or run with the embedded server), check the URL, "
                f"credentials and TLS options"
            ) from None
        rt.nc = nc
        try:
            await rt._setup()
        except BaseException:
            rt._closing = rt._closed = True
            with contextlib.suppress(BaseException):
                await nc.close()
            raise
        return rt

    async def _setup(self) -> None:
        nc = self.nc
        self._js = nc.jetstream()
        await self._ensure_buckets()
        self._inbox = nc.new_inbox()
        await nc.subscribe(self._inbox + ".*", cb=self._on_reply)
        await nc.subscribe(wire.ctl_subject(self.worker_id), cb=self._on_ctl)
        if self.direct is not None:
            await self.direct.start()
        self._connected.set()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _ensure_buckets(self, patience: float = BUCKET_PATIENCE) -> None:
        """Open (or create, with ``replicas`` copies) the runtime's buckets. A cluster that is
        still forming (no JetStream leader yet, too few peers for the replicas) answers with
        errors for a few seconds: retried until ``patience`` runs out."""
        import nats.js.errors

        js = self._js
        deadline = time.monotonic() + patience
        for attr, bucket, marker in (("_kv_workers", self.workers_bucket, 1.0),
                                     ("_kv_blueprints", self.blueprints_bucket, None)):
            while True:
                try:
                    try:
                        kv = await js.key_value(bucket)
                    except nats.js.errors.BucketNotFoundError:
                        kv = await js.create_key_value(bucket=bucket, history=1,
                                                       limit_marker_ttl=marker,
                                                       replicas=self.replicas,
                                                       # reads from any replica: no wait for a
                                                       # new leader after a member dies
                                                       direct=True)
                    info = await js.stream_info(f"KV_{bucket}")
                    if info.cluster is not None and not info.cluster.leader:
                        # a new replicated stream elects its leader first; writes before that
                        # get "no response from stream"
                        raise TransportError(f"the stream of {bucket!r} has no leader yet")
                    break
                except Exception as exc:
                    if time.monotonic() < deadline and not _permanent(exc):
                        await asyncio.sleep(0.25)
                        continue
                    raise TransportError(
                        f"cannot open the KV bucket {bucket!r} on NATS at {self.url} (replicas "
                        f"{self.replicas}; {type(exc).__name__}: {exc}); fix: enable "
                        f"JetStream on the server (nats-server -js, 2.11 or later), allow this "
                        f"user to manage the bucket, and ask for no more replicas than the "
                        f"cluster has members"
                    ) from None
            setattr(self, attr, kv)

    def _spawn(self, coro: Any) -> None:
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
        key = f"{wire.check_token('namespace', ns)}.{wire.check_token('component', component)}"
        value = blueprint_json.encode()
        await js_retry(lambda: self._kv_blueprints.put(key, value), f"publish blueprint {key}")

    async def get_blueprint(self, ns: str, component: str) -> str | None:
        """The blueprint JSON a host published for ``ns/component``, or None."""
        import nats.js.errors

        key = f"{wire.check_token('namespace', ns)}.{wire.check_token('component', component)}"
        try:
            entry = await self._kv_blueprints.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return bytes(entry.value).decode()

    async def delete_blueprint(self, ns: str, component: str) -> None:
        with contextlib.suppress(Exception):
            await self._kv_blueprints.purge(f"{ns}.{component}")

    # -- discovery -------------------------------------------------------------------------------

    def watcher(self, pattern: str, label: str) -> WorkerWatcher:
        """The shared watcher of a KV key pattern, started on first use."""
        if self._closing:
            raise TransportError(f"{label}: the runtime is closed; fix: connect a new "
                                 f"DistributedRuntime")
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

    def suspect(self, iid: str) -> None:
        """Stop routing to ``iid`` until it refreshes its lease (or its lease would expire)."""
        self._suspects[iid] = time.monotonic() + self.leases.ttl + 1.0

    def _worker_changed(self, iid: str, alive: bool, crashed: bool) -> None:
        if alive:
            self._suspects.pop(iid, None)
            return
        if not crashed:
            return  # a clean goodbye: its calls in flight still finish (graceful close)
        for call in list(self._calls.values()):
            if call.iid == iid:
                call.lost("its lease expired: the process stopped refreshing it")

    async def registrations(self) -> list[dict[str, Any]]:
        """Every registration in the workers bucket (one per worker and endpoint)."""
        from nats.js.errors import NoKeysError

        from ..transports.codec import msgpack_decode

        kv = self._kv_workers
        try:
            keys = await kv.keys()
        except NoKeysError:  # an empty bucket
            return []
        except Exception as exc:  # a timeout while a stream elects its leader, a lost link
            raise TransportError(
                f"cannot list the registrations in the workers bucket: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        out: list[dict[str, Any]] = []
        for key in keys:
            try:
                entry = await kv.get(key)
            except Exception:  # deleted or expired between keys() and get()
                continue
            if entry.value:
                out.append(msgpack_decode(bytes(entry.value)))
        return out

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
        for call in list(self._calls.values()):
            if call.link is None:
                call.fail_transport("the connection to NATS was lost mid-call")
        for sc in list(self._serving.values()):
            if not sc.direct:
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
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise TransportError(
                f"{what}: not connected to NATS at {self.url} (waited {timeout:.1f} s for a "
                f"reconnect); fix: check that nats-server is running"
            ) from None

    # -- wire plumbing -----------------------------------------------------------------------------

    def next_reply(self) -> str:
        return f"{self._inbox}.{next(self._seq)}"

    async def _on_reply(self, msg: Any) -> None:
        call = self._calls.get(msg.subject)
        if call is None:
            return
        data = msg.data
        if not data:
            hdr = msg.headers
            if hdr and hdr.get(_STATUS) == "503":
                call.no_responders()
            return
        try:
            frame = msgpack_decode(data)
        except Exception:
            call.fail_transport("a reply frame could not be decoded")
            return
        call.on_frame(frame)

    async def _on_ctl(self, msg: Any) -> None:
        try:
            frame = msgpack_decode(msg.data)
            key = frame[1]
        except Exception as exc:
            log.info("dropped a control frame on %s that could not be decoded (%s)",
                     msg.subject, exc)
            return
        self.control(frame, key)

    def control(self, frame: Any, key: Any) -> None:
        """A caller's control frame (credit, cancel, keepalive) for the call served under
        ``key`` (its reply subject on NATS, (connection, call id) on the direct plane)."""
        try:  # a control frame off the wire may hold anything: drop what is malformed
            sc = self._serving.get(key)
            kind = frame[0]
            credit = frame[2] if kind == wire.CREDIT else 0
            if type(credit) is not int or not 0 <= credit <= wire.MAX_WINDOW:
                raise ValueError(f"credit {credit!r} is not an integer 0..{wire.MAX_WINDOW}")
        except Exception as exc:
            log.info("dropped a malformed control frame (%s)", exc)
            return
        if sc is None:
            log.debug("dropped a control frame for a call that already ended")
            return
        sc.last_touch = time.monotonic()
        if kind == wire.CREDIT:
            sc.add_credit(credit)
        elif kind == wire.CANCEL:
            sc.cancel()

    def call_for(self, key: Any) -> OutgoingCall | None:
        """The outgoing call under ``key`` (reply subject, or direct call id), if in flight."""
        return self._calls.get(key)

    def caller_gone(self, conn: Any) -> None:
        """A direct caller's connection closed: stop the calls it made here."""
        for key, sc in list(self._serving.items()):
            if type(key) is tuple and key[0] is conn:
                sc.cancel()

    def link_lost(self, link: DirectLink, reason: str) -> None:
        """The direct connection to a peer closed: its calls in flight lost their worker."""
        for call in list(self._calls.values()):
            if call.link is link:
                call.lost(reason)

    @property
    def closing(self) -> bool:
        return self._closing

    async def send_ctl(self, iid: str, frame: list[Any]) -> None:
        with contextlib.suppress(Exception):
            await self.nc.publish(wire.ctl_subject(iid), msgpack_encode(frame))

    def send_ctl_soon(self, iid: str, frame: list[Any]) -> None:
        """Send a control frame from synchronous code (a callback or a cancelled task)."""
        if self.nc is not None and not self.nc.is_closed:
            self._spawn(self.send_ctl(iid, frame))

    async def _tick(self) -> None:
        """Heartbeats for the calls this process serves; liveness of the calls it makes."""
        loop = asyncio.get_running_loop()
        tick = wire.WATCHDOG_TICK
        hb_every = max(1, round(wire.HEARTBEAT_INTERVAL / tick))
        ka_every = max(1, round(wire.KEEPALIVE_INTERVAL / tick))
        hb_frame = msgpack_encode([wire.HB])
        n = 0
        expected = loop.time() + tick
        while True:
            await asyncio.sleep(tick)
            n += 1
            now = time.monotonic()
            lag = loop.time() - expected
            expected = loop.time() + tick
            connected = self.nc.is_connected
            try:
                if self._calls:
                    stalled = lag > tick  # our own loop stalled: frames may sit unread
                    for call in list(self._calls.values()):
                        call.check(now, stalled)
                    if n % ka_every == 0:
                        for call in list(self._calls.values()):
                            if not call.is_stream:
                                continue
                            if call.link is not None:
                                call.link.ctl([wire.KEEPALIVE, call.reply])
                            elif connected:
                                await self.send_ctl(call.iid, [wire.KEEPALIVE, call.reply])
                if self._serving and n % hb_every == 0:
                    for sc in list(self._serving.values()):
                        if sc.heartbeat_due(now) and (connected or sc.direct):
                            await sc.send(hb_frame)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("runtime tick: %s", exc)

    # -- shutdown ----------------------------------------------------------------------------------

    async def close(self, grace: float = 2.0) -> None:
        """Deregister every worker at once (callers stop routing here), give the calls being
        served ``grace`` seconds to finish, end the rest with WorkerLostError, then drain."""
        if self._closed:
            return
        self._closing = True
        with contextlib.suppress(Exception):
            await self.leases.close()
        for served in list(self._served):
            with contextlib.suppress(Exception):
                await served.stop(deregister=False)
        if self._serving and grace > 0:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain_serving(), grace)
        for sc in list(self._serving.values()):
            sc.shutdown()
        if self._serving:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain_serving(), 1.0)
        for w in self._watchers.values():
            w.stop()
        if self._ticker is not None:
            self._ticker.cancel()
        for call in list(self._calls.values()):
            call.fail(UnavailableError("the runtime was closed while the call was in flight"))
        if self.direct is not None:
            await self.direct.close()
        self._closed = True
        for task in list(self._bg):
            task.cancel()
        nc = self.nc
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.drain(), 5.0)
            except Exception:
                with contextlib.suppress(Exception):
                    await nc.close()

    async def _drain_serving(self) -> None:
        while self._serving:  # noqa: ASYNC110 - calls end on their own; poll briefly
            await asyncio.sleep(0.01)

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
