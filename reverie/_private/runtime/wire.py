"""The wire protocol of the distributed runtime: subjects, frames and constants.

Everything is msgpack arrays whose first element says the kind; docs/runtime.md describes it
for people writing other clients.
"""

from __future__ import annotations

from typing import Any, Final

from reverie.errors import ConfigError

from ..declare.names import NAME_RULE, is_name

# -- subjects ------------------------------------------------------------------------------------

REQ_PREFIX: Final = "rv"  # rv.{ns}.{component}.{endpoint}[.{worker}]
CTL_PREFIX: Final = "rvctl"  # rvctl.{worker}: credit / cancel / keepalive from callers
QUEUE_GROUP: Final = "rv"  # queue group of the shared (any-worker) subject

WORKERS_BUCKET: Final = "rv_workers"  # keys: {ns}.{component}.{endpoint}.{worker}
BLUEPRINTS_BUCKET: Final = "rv_blueprints"  # keys: {ns}.{component}


def check_token(kind: str, value: str) -> str:
    """Names become NATS subject tokens and KV keys: the one name rule of ``names``, which
    markup checks at import too."""
    if not is_name(value):
        raise ConfigError(
            f"{kind} name {value!r} cannot be used on NATS: it must be {NAME_RULE}",
            key=kind,
            value=value,
            fix=f"rename the {kind}",
        )
    return value


def endpoint_subject(ns: str, component: str, endpoint: str) -> str:
    return f"{REQ_PREFIX}.{ns}.{component}.{endpoint}"


def worker_key(ns: str, component: str, endpoint: str, worker: str) -> str:
    return f"{ns}.{component}.{endpoint}.{worker}"


def ctl_subject(worker: str) -> str:
    return f"{CTL_PREFIX}.{worker}"


# -- frames, server -> caller (on the call's reply subject) ---------------------------------------

DATA: Final = 0  # [0, seq, item]        one result (unary: seq 0) or one stream item
END: Final = 1  # [1, count]             end of stream; count = items sent
ERR: Final = 2  # [2, error]             CallError.to_wire() dict; ends the call
HB: Final = 3  # [3]                     the call is still running (liveness)
BATCH: Final = 4  # [4, first_seq, [items]]  several stream items at once
LAST: Final = 5  # [5, first_seq, [items]]   a stream's last items, and its end (one message less)

# -- control, caller -> server (on rvctl.{worker}) ----------------------------------------------

CREDIT: Final = 0  # [0, reply, n, b]   the caller consumed n more items, freed b bytes
CANCEL: Final = 1  # [1, reply]      stop the call (iterator closed, caller cancelled, deadline)
KEEPALIVE: Final = 2  # [2, reply]   the caller is still there (idle streams)

# -- request payload -------------------------------------------------------------------------------
# [ctx, body, window, window_bytes]: ctx = RequestContext.to_wire() or None; window = initial
# stream credit in items (0 for unary calls), window_bytes in bytes of frames (optional: absent,
# no limit in bytes).

# -- timing ----------------------------------------------------------------------------------------

HEARTBEAT_INTERVAL: Final = 0.2  # server -> caller, per running call older than one interval
LIVENESS_TIMEOUT: Final = 0.7  # caller declares the worker lost after this much silence
WATCHDOG_TICK: Final = 0.1
KEEPALIVE_INTERVAL: Final = 1.0  # caller -> server for open streams
CALLER_TIMEOUT: Final = 10.0  # server drops a stream whose caller went silent this long
# A stream's producer waits for credit once either window is used: items, or bytes of frames
# (a frame that starts within the window may end past it). The bytes bound the caller's memory;
# the items bound it for tiny items, and both are wide enough that a fast consumer never makes
# the producer wait a round trip (credit goes back every half window).
DEFAULT_WINDOW: Final = 1024
DEFAULT_WINDOW_BYTES: Final = 1 << 20
MAX_WINDOW: Final = 1 << 20  # the most item credit a request or a CREDIT frame may give
MAX_WINDOW_BYTES: Final = 1 << 40  # ... and byte credit


def error_frame(err: dict[str, Any]) -> list[Any]:
    return [ERR, err]
