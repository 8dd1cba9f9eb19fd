"""The one reading of an HTTP answer that every HTTP client shares (``Plug``, ``HttpTransport``):
a problem body back into its ``CallError`` class, a streamed body split into lines (NDJSON) and
into Server-Sent Events.

Hand-written: httpx-sse would tie the reader to httpx, while the same bytes also arrive from an
in-process application or over the runtime; the SSE grammar needed here is twenty lines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from reverie.errors import CallError, ServiceError

from ..transports.codec import json_decode

__all__ = ["lines", "problem_error", "sse_events"]


def problem_error(status: int, body: bytes, where: str, request_id: str | None = None) -> CallError:
    """The ``CallError`` a non-2xx answer describes: its problem body's class (a Reverie host
    sends one), else ``ServiceError`` with the status, naming ``where`` and the body's start."""
    try:
        data = json_decode(body)
    except Exception:
        data = None
    if isinstance(data, dict) and "code" in data and "message" in data:
        err = CallError.from_wire(data)
    else:
        err = ServiceError(status, f"{where} answered {status}: {body[:200]!r}")
    if err.request_id is None:
        err.request_id = request_id
    return err


async def lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a streamed body (without their ``\\n``), across chunk boundaries."""
    buf = b""
    async for chunk in chunks:
        buf = buf + chunk if buf else chunk
        start = 0
        while True:
            i = buf.find(b"\n", start)
            if i < 0:
                break
            yield buf[start:i]
            start = i + 1
        buf = buf[start:]
    if buf:
        yield buf


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[bytes, bytes]]:
    """Server-Sent Events of a streamed body, each as its fields: ``data`` (lines joined with
    ``\\n``) and, when sent, ``event``, ``id``, ``retry``. Comments are skipped; an event
    without a blank line after it at the end of the body still counts."""
    event: dict[bytes, bytes] = {}
    data: list[bytes] = []
    async for raw in lines(chunks):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if not line:
            if data or event:
                event[b"data"] = b"\n".join(data)
                yield event
            event, data = {}, []
            continue
        name, _, value = line.partition(b":")
        if not name:  # a comment (":" first)
            continue
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name in (b"event", b"id", b"retry"):
            event[name] = value
    if data:
        event[b"data"] = b"\n".join(data)
        yield event
