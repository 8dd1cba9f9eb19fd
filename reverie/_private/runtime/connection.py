"""The runtime's NATS connection: connecting (with reconnection on), opening the JetStream
buckets, retrying what a forming cluster answers with errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from reverie.errors import TransportError

from ..redact import shown_url

__all__ = [
    "BUCKET_PATIENCE",
    "close_quietly",
    "ensure_buckets",
    "js_retry",
    "open_nats",
    "wait_or_fail",
]

log = logging.getLogger("reverie.runtime")

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
                raise TransportError(
                    f"{what}: JetStream did not answer for {patience:g} s "
                    f"({exc}); fix: check that the NATS cluster has a "
                    f"quorum of its members up"
                ) from None
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
    return any(
        w in text
        for w in ("permission", "not enabled", "invalid", "authorization", "not supported")
    )


def _callbacks(
    on_disconnected: Callable[[], None],
    on_reconnected: Callable[[], None],
    on_closed: Callable[[], None],
    nats_options: dict[str, Any],
) -> tuple[
    Callable[[], Awaitable[None]],
    Callable[[], Awaitable[None]],
    Callable[[Exception], Awaitable[None]],
    Callable[[], Awaitable[None]],
]:
    """The client's disconnected, reconnected, error and closed callbacks: the runtime's, then
    the user's own (taken out of ``nats_options``)."""
    user_cbs = {
        k: nats_options.pop(k, None)
        for k in ("disconnected_cb", "reconnected_cb", "error_cb", "closed_cb")
    }

    async def disconnected() -> None:
        on_disconnected()
        if user_cbs["disconnected_cb"]:
            await user_cbs["disconnected_cb"]()

    async def reconnected() -> None:
        on_reconnected()
        if user_cbs["reconnected_cb"]:
            await user_cbs["reconnected_cb"]()

    async def error(exc: Exception) -> None:
        log.debug("nats error: %s", exc)
        if user_cbs["error_cb"]:
            await user_cbs["error_cb"](exc)

    async def closed() -> None:
        on_closed()
        if user_cbs["closed_cb"]:
            await user_cbs["closed_cb"]()

    return disconnected, reconnected, error, closed


async def open_nats(
    url: str,
    connect_timeout: float,
    name: str,
    on_disconnected: Callable[[], None],
    on_reconnected: Callable[[], None],
    on_closed: Callable[[], None],
    nats_options: dict[str, Any],
) -> Any:
    """A connected ``nats.aio.client.Client``; the runtime hears of disconnects, reconnects and
    the close through the three callbacks, the user's own callbacks in ``nats_options`` still
    run. TransportError naming the URL and the fix when it cannot connect."""
    import nats.aio.client

    servers = [u.strip() for u in url.split(",") if u.strip()]
    disconnected, reconnected, error, closed = _callbacks(
        on_disconnected, on_reconnected, on_closed, nats_options
    )
    opts: dict[str, Any] = {
        "name": name,
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
            nc.connect(
                servers=servers,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
                closed_cb=closed,
                **opts,
            ),
            connect_timeout,
        )
    except BaseException as exc:
        await close_quietly(nc)
        if isinstance(exc, asyncio.CancelledError):
            raise
        reason = (
            "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
        )
        raise TransportError(
            f"cannot connect to NATS at {shown_url(url)} ({reason}) within {connect_timeout} s; "
            f"fix: start nats-server there (or run with the embedded server), check the URL, "
            f"credentials and TLS options"
        ) from None
    return nc


async def ensure_buckets(
    js: Any, url: str, replicas: int, buckets: tuple[str, str], patience: float = BUCKET_PATIENCE
) -> tuple[Any, Any]:
    """Open (or create, with ``replicas`` copies) the runtime's buckets. A cluster that is
    still forming (no JetStream leader yet, too few peers for the replicas) answers with
    errors for a few seconds: retried until ``patience`` runs out."""
    import nats.js.errors

    deadline = time.monotonic() + patience
    kvs: dict[str, Any] = {}
    for attr, bucket, marker in (("workers", buckets[0], 1.0), ("blueprints", buckets[1], None)):
        while True:
            try:
                try:
                    kv = await js.key_value(bucket)
                except nats.js.errors.BucketNotFoundError:
                    kv = await js.create_key_value(
                        bucket=bucket,
                        history=1,
                        limit_marker_ttl=marker,
                        replicas=replicas,
                        # reads from any replica: no wait for a
                        # new leader after a member dies
                        direct=True,
                    )
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
                    f"cannot open the KV bucket {bucket!r} on NATS at {shown_url(url)} (replicas "
                    f"{replicas}; {type(exc).__name__}: {exc}); fix: enable "
                    f"JetStream on the server (nats-server -js, 2.11 or later), allow this "
                    f"user to manage the bucket, and ask for no more replicas than the "
                    f"cluster has members"
                ) from None
        kvs[attr] = kv
    return kvs["workers"], kvs["blueprints"]


async def close_quietly(nc: Any) -> None:
    """Close a NATS connection that failed or is being given up; its own errors are logged."""
    try:
        await nc.close()
    except Exception as exc:
        log.debug("closing the NATS connection: %s", exc)


async def wait_or_fail(event: asyncio.Event, timeout: float, message: str) -> None:
    """Wait up to ``timeout`` seconds for ``event``; else ``TransportError(message)``."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        raise TransportError(message) from None
