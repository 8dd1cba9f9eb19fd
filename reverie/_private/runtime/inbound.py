"""Frames that reach this process unasked: replies to the calls it made, control frames
(credit, cancel, keepalive) for the calls it serves."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..transports.codec import msgpack_decode
from . import wire

if TYPE_CHECKING:
    from .tables import CallTable, ServingTable

__all__ = ["control", "on_ctl", "on_reply"]

log = logging.getLogger("reverie.runtime")

_STATUS = "Status"


async def on_reply(calls: CallTable, msg: Any) -> None:
    """A reply frame off NATS for the call waiting under its subject."""
    call = calls.get(msg.subject)
    if call is None:
        log.debug("dropped a reply frame on %s: no call waits for it (it ended)", msg.subject)
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
    call.on_frame(frame, len(data))


async def on_ctl(serving: ServingTable, msg: Any) -> None:
    """A control frame off NATS for a call served here."""
    try:
        frame = msgpack_decode(msg.data)
        key = frame[1]
    except Exception as exc:
        log.info("dropped a control frame on %s that could not be decoded (%s)", msg.subject, exc)
        return
    control(serving, frame, key)


def control(serving: ServingTable, frame: Any, key: Any) -> None:
    """A caller's control frame (credit, cancel, keepalive) for the call served under
    ``key`` (its reply subject on NATS, (connection, call id) on the direct plane)."""
    try:  # a control frame off the wire may hold anything: drop what is malformed
        sc = serving.get(key)
        kind = frame[0]
        credit = nbytes = 0
        if kind == wire.CREDIT:
            credit = frame[2]
            nbytes = frame[3] if len(frame) > 3 else 0
        if type(credit) is not int or not 0 <= credit <= wire.MAX_WINDOW:
            raise ValueError(f"credit {credit!r} is not an integer 0..{wire.MAX_WINDOW}")
        if type(nbytes) is not int or not 0 <= nbytes <= wire.MAX_WINDOW_BYTES:
            raise ValueError(f"credit of {nbytes!r} bytes is not 0..{wire.MAX_WINDOW_BYTES}")
    except Exception as exc:
        log.info("dropped a malformed control frame (%s)", exc)
        return
    if sc is None:
        log.debug("dropped a control frame for a call that already ended")
        return
    sc.last_touch = time.monotonic()
    if kind == wire.CREDIT:
        sc.add_credit(credit, nbytes)
    elif kind == wire.CANCEL:
        sc.cancel()
