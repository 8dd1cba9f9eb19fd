"""The one reading of an HTTP answer that both HTTP clients (``Plug``, ``HttpTransport``) share:
a problem body back into its ``CallError`` class, and a body split into lines (SSE, NDJSON)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from reverie.errors import CallError, ServiceError

from ..transports.codec import json_decode

__all__ = ["lines", "problem_error"]


def problem_error(status: int, body: bytes, where: str, request_id: str | None = None) -> CallError:
    """The ``CallError`` a non-2xx answer describes: its problem body's class (a Reverie host
    sends one), else ``ServiceError`` with the status, naming ``where`` and the body's start."""
    try:
        data = json_decode(body)
    except Exception:
        data = None
    if isinstance(data, dict) and "code" in data and "message" in data:
        return CallError.from_wire(data)
    err = ServiceError(status, f"{where} answered {status}: {body[:200]!r}")
    err.request_id = request_id
    return err


async def lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a streamed body (without their ``\\n``), across chunk boundaries."""
    buf = b""
    async for chunk in chunks:
        buf += chunk
        while True:
            i = buf.find(b"\n")
            if i < 0:
                break
            line, buf = buf[:i], buf[i + 1:]
            yield line
    if buf:
        yield buf
