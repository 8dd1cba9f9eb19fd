"""Discovery: worker leases in a JetStream KV bucket, and watchers that keep live lists.

Each served endpoint puts ``{ns}.{component}.{endpoint}.{worker}`` with a per-key TTL (the
lease) and re-puts it every third of the TTL. A clean shutdown purges the key at once; a crashed
process stops refreshing and the server expires the key, placing a marker that watchers see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reverie.errors import NoWorkersError, TransportError

from ..transports.codec import msgpack_decode
from .connection import js_retry

if TYPE_CHECKING:
    from .core import DistributedRuntime

__all__ = ["WATCH_IDLE", "Leases", "WorkerWatcher", "end_watch", "read_registrations"]

log = logging.getLogger("reverie.runtime")

_MARKER_TTL = 60


#: seconds between checks that a watch's consumer still exists (see WorkerWatcher._probe)
PROBE_EVERY = 2.0

#: seconds the server keeps a watch's consumer once nobody listens on it (a crashed process, an
#: ordered consumer nats-py replaced); nats-py's default is 5 minutes (see ``end_watch``)
WATCH_IDLE = 10.0

#: seconds to wait for the server to delete a watch's consumer (best effort)
_DELETE_WAIT = 2.0


async def end_watch(rt: DistributedRuntime, watcher: Any, what: str) -> None:
    """Stop a KV watch and delete its consumer on the server at once.

    nats-py's ``stop()`` only unsubscribes: the ephemeral consumer stays until its inactive
    threshold passes, and nats-server takes at most 1000 consumers on a stream, so watches
    that come and go (runtimes of a test suite sharing one cluster, ``reverie`` commands,
    restarted processes) piled up until new watches were refused ("maximum consumers limit
    reached"). A failure is logged: the consumer then goes after ``WATCH_IDLE`` seconds.
    """
    sub = watcher._sub
    try:
        await watcher.stop()
        await asyncio.wait_for(rt.js.delete_consumer(sub._stream, sub._consumer), _DELETE_WAIT)
    except Exception as exc:  # the connection or the consumer is gone already
        log.debug("ending the watch of %s: %s", what, exc)


class Leases:
    """This process's keys in the workers bucket, refreshed until released."""

    def __init__(self, rt: DistributedRuntime, ttl: float) -> None:
        if ttl < 1.0:
            raise ValueError(f"lease_ttl={ttl} is below the 1 s minimum of NATS per-key TTLs")
        self._rt = rt
        self.ttl = ttl
        self._entries: dict[str, bytes] = {}
        self._task: asyncio.Task[None] | None = None

    def _subject(self, key: str) -> str:
        return f"$KV.{self._rt.workers_bucket}.{key}"

    async def _put(self, key: str, value: bytes) -> None:
        js = self._rt.js
        await js.publish(self._subject(key), value, msg_ttl=max(1, round(self.ttl)))

    async def acquire(self, key: str, value: bytes) -> None:
        """Register a key now and keep it alive."""
        from .connection import js_retry

        self._entries[key] = value
        await js_retry(lambda: self._put(key, value), f"register {key}")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _delete(self, key: str) -> None:
        # A KV delete marker (a clean goodbye, unlike the server's expiry marker for a crash)
        # that itself expires, so markers of past processes do not pile up in the bucket.
        await self._rt.js.publish(
            self._subject(key), b"", headers={"KV-Operation": "DEL"}, msg_ttl=_MARKER_TTL
        )

    async def release(self, key: str) -> None:
        """Remove a key at once (clean shutdown of one endpoint)."""
        if self._entries.pop(key, None) is None:
            return
        try:
            await self._delete(key)
        except Exception as exc:  # the lease then expires within its TTL instead
            log.warning(
                "could not delete the lease %s at once (%s); it expires within %g s",
                key,
                exc,
                self.ttl,
            )

    async def refresh_all(self) -> None:
        """Re-put every key (after a reconnect, or on the lease timer), all at once: one
        round trip for a process's hundred endpoints, not a hundred in a row (which, on a
        loaded machine, took longer than the TTL and let live leases expire)."""
        items = list(self._entries.items())
        results = await asyncio.gather(*(self._put(k, v) for k, v in items), return_exceptions=True)
        for (key, _), res in zip(items, results, strict=True):
            if isinstance(res, BaseException):  # the connection is down: the next tick retries
                log.debug("lease refresh of %s failed: %s", key, res)

    async def _refresh_loop(self) -> None:
        period = self.ttl / 3.0
        while True:
            await asyncio.sleep(period)
            await self.refresh_all()

    async def close(self) -> None:
        """Stop refreshing and purge every key."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            # wait for it to end without taking its CancelledError as ours: a cancellation of
            # the caller itself still propagates from this await
            await asyncio.wait([task])
        keys, self._entries = list(self._entries), {}
        if keys:
            await asyncio.gather(*(self._delete(k) for k in keys), return_exceptions=True)


class WorkerWatcher:
    """A live view of the keys under one pattern (``ns.comp.ep.*`` or ``ns.comp.>``)."""

    def __init__(self, rt: DistributedRuntime, pattern: str, label: str) -> None:
        self._rt = rt
        self.pattern = pattern
        self.label = label
        self.entries: dict[str, dict[str, Any]] = {}
        #: sorted live worker ids, rebuilt on every change (routers read it per call)
        self.ids: list[str] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[str, bool, bool], None]] = []
        #: why the last attempt to watch failed (named when ``ready`` gives up)
        self.last_error: str | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def restart(self) -> None:
        """Re-read the bucket from scratch (after a reconnect)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.start()

    async def ready(self, timeout: float = 5.0) -> None:
        """Wait for the first full snapshot; TransportError if the bucket cannot be read."""
        if self._ready.is_set():
            return
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            why = f" (the last attempt failed: {self.last_error})" if self.last_error else ""
            raise TransportError(
                f"{self.label}: could not read the worker list from the NATS KV bucket "
                f"{self._rt.workers_bucket!r} at {self._rt.url} within {timeout} s{why}; "
                f"fix: check that nats-server is reachable and runs with JetStream (-js)"
            ) from None

    @property
    def is_ready(self) -> bool:
        """Whether the first full snapshot has been read."""
        return self._ready.is_set()

    def on_change(self, fn: Callable[[str, bool, bool], None]) -> None:
        """Call ``fn(worker_id, alive, crashed)`` when a worker appears or goes; ``crashed``
        when its lease expired (the server's marker) rather than being deleted."""
        self._listeners.append(fn)

    async def _run(self) -> None:
        while True:
            try:
                await self._watch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.debug("watch %s failed (%s); retrying", self.pattern, exc)
                await asyncio.sleep(0.25)

    async def _watch_once(self) -> None:
        watcher = await self._rt.workers_kv.watch(self.pattern, inactive_threshold=WATCH_IDLE)
        probe = asyncio.get_running_loop().create_task(self._probe(watcher))
        try:
            snapshot: dict[str, dict[str, Any]] = {}
            initial = True
            async for entry in watcher:
                if entry is None:
                    if initial:
                        initial = False
                        self.last_error = None
                        self._replace(snapshot)
                    continue
                key = entry.key
                op = entry.operation
                gone = op in ("DEL", "PURGE") or not entry.value
                if initial:
                    if gone:
                        snapshot.pop(key, None)
                    else:
                        snapshot[key] = _decode_info(entry.value)
                    continue
                if gone:
                    if self.entries.pop(key, None) is not None:
                        self._changed(key.rsplit(".", 1)[-1], False, op == "PURGE")
                else:
                    self.entries[key] = _decode_info(entry.value)
                    self._changed(key.rsplit(".", 1)[-1], True, False)
        finally:
            probe.cancel()
            await end_watch(self._rt, watcher, self.pattern)

    async def _probe(self, watcher: Any) -> None:
        """Restart the watch when its consumer is gone.

        nats-py's KV watch is an ordered consumer without idle heartbeats, so when the cluster
        member holding that consumer dies, the watch goes silent forever (no error). Asking for
        the consumer's info every ``PROBE_EVERY`` seconds notices; a timeout (a stream electing
        its leader) is not proof of anything and is ignored.
        """
        import nats.js.errors

        while True:
            await asyncio.sleep(PROBE_EVERY)
            try:
                await watcher._sub.consumer_info()
            except nats.js.errors.NotFoundError:
                log.debug("watch %s: its consumer is gone; restarting it", self.pattern)
                self._spawn_restart()
                return
            except Exception as exc:
                log.debug("watch %s: consumer info failed (%s)", self.pattern, exc)

    def _spawn_restart(self) -> None:
        asyncio.get_running_loop().call_soon(self.restart)

    def _replace(self, snapshot: dict[str, dict[str, Any]]) -> None:
        old = {k.rsplit(".", 1)[-1] for k in self.entries}
        self.entries = snapshot
        new = {k.rsplit(".", 1)[-1] for k in snapshot}
        self._rebuild()
        self._ready.set()
        for iid in new:
            self._notify(iid, True, False)
        for iid in old - new:
            self._notify(iid, False, False)

    def _changed(self, iid: str, alive: bool, crashed: bool) -> None:
        self._rebuild()
        self._notify(iid, alive, crashed)

    def _rebuild(self) -> None:
        self.ids = sorted({k.rsplit(".", 1)[-1] for k in self.entries})
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def _notify(self, iid: str, alive: bool, crashed: bool) -> None:
        for fn in self._listeners:
            fn(iid, alive, crashed)

    def info(self, worker_id: str) -> dict[str, Any] | None:
        for key, value in self.entries.items():
            if key.rsplit(".", 1)[-1] == worker_id:
                return value
        return None

    async def wait_for(
        self, n: int, timeout: float | None, live: Callable[[], list[str]]
    ) -> list[str]:
        """Wait until ``live()`` has at least ``n`` ids; NoWorkersError on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        await self.ready(timeout if timeout is not None else 30.0)
        while True:
            ids = live()
            if len(ids) >= n:
                return ids
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise NoWorkersError(
                    f"{self.label}: wanted {n} live worker(s) within {timeout} s, "
                    f"found {len(ids)}" + (f" ({', '.join(ids)})" if ids else ""),
                    service=None,
                )
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            with contextlib.suppress(asyncio.TimeoutError):
                # Suspects can clear without a KV change: look again at least every 0.25 s.
                wait = 0.25 if remaining is None else min(0.25, remaining)
                await asyncio.wait_for(fut, wait)

    def stop(self) -> asyncio.Task[None] | None:
        """Stop watching; returns the Task that ends the watch (it deletes the consumer)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        return task


def _decode_info(value: bytes) -> dict[str, Any]:
    try:
        info = msgpack_decode(value)
    except Exception as exc:
        log.warning(
            "a registration in the workers bucket could not be decoded (%s); "
            "its worker is listed without details",
            exc,
        )
        return {}
    if not isinstance(info, dict):
        log.warning("a registration in the workers bucket is not a map: %r", info)
        return {}
    return info


async def read_registrations(rt: DistributedRuntime) -> list[dict[str, Any]]:
    """Every registration in the workers bucket, read key by key.

    The keys come from the stream's own subject list (one request the server answers from its
    state), not nats-py's ``KeyValue.keys()``: that one watches the bucket and, when the
    server answers its consumer-info request before the consumer's first message arrives (a
    loaded machine), reports "no keys" for a full bucket. A key whose last word is a delete
    or expiry marker, or that went between the listing and its read, is skipped; any other
    failure is a TransportError naming the bucket, never an empty list.
    """
    import nats.js.errors

    bucket = rt.workers_bucket
    where = f"the workers bucket {bucket!r} on NATS at {rt.url}"
    fix = (
        f"fix: check that nats-server is up and runs with JetStream (-js), and that this user "
        f"may read the bucket ($JS.API.STREAM.INFO.KV_{bucket} and "
        f"$JS.API.DIRECT.GET.KV_{bucket}.>)"
    )
    try:
        subjects = await js_retry(
            lambda: _list_subjects(rt.js, f"KV_{bucket}", f"$KV.{bucket}."),
            f"cannot list the registrations in {where}",
        )
    except TransportError:
        raise
    except nats.js.errors.NotFoundError as exc:
        raise TransportError(
            f"cannot list the registrations: {where} does not exist ({exc}); "
            f"fix: reconnect (the runtime makes the bucket when it connects); {fix}"
        ) from exc
    except Exception as exc:
        raise TransportError(
            f"cannot list the registrations in {where}: {type(exc).__name__}: {exc}; {fix}"
        ) from exc
    keys = sorted(subjects)
    kv = rt.workers_kv
    entries = await asyncio.gather(*(kv.get(k) for k in keys), return_exceptions=True)
    out: list[dict[str, Any]] = []
    for key, entry in zip(keys, entries, strict=True):
        if isinstance(entry, nats.js.errors.KeyNotFoundError):
            continue  # its last word is a delete marker (a clean goodbye), or it expired
        if isinstance(entry, Exception):
            raise TransportError(
                f"cannot read the registration {key!r} in {where}: "
                f"{type(entry).__name__}: {entry}; {fix}"
            ) from entry
        if isinstance(entry, BaseException):
            raise entry  # cancelled
        if entry.value:  # empty: the server's marker of an expired lease
            out.append(msgpack_decode(bytes(entry.value)))
    return out


async def _list_subjects(js: Any, stream: str, prefix: str) -> list[str]:
    """The keys of a KV bucket: its stream's subjects under ``prefix``, page by page.

    nats-py's ``stream_info(subjects_filter=)`` drops the paging fields (a listing holds at
    most 100,000 subjects per answer), so this asks the JetStream API itself.
    """
    import json

    keys: list[str] = []
    while True:
        req = json.dumps({"subjects_filter": f"{prefix}>", "offset": len(keys)}).encode()
        resp = await js._api_request(f"{js._prefix}.STREAM.INFO.{stream}", req, timeout=js._timeout)
        page = (resp.get("state") or {}).get("subjects") or {}
        keys += [s[len(prefix) :] for s in page]
        if not page or len(keys) >= int(resp.get("total") or 0):
            return keys
