"""Writing answers to an ASGI ``send``: JSON, problems (RFC 9457 + wire error), streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from reverie.errors import CallError

from ..transports.codec import json_encode

__all__ = ["JSON", "Send", "problem_body", "send_bytes", "send_json", "send_problem", "sse"]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON = b"application/json"
PROBLEM = b"application/problem+json"
#: RFC 9457's default problem type; ``CallError.from_wire`` reads it as "no remote type".
ABOUT_BLANK = "about:blank"


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes | None = JSON,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, value: Any, status: int = 200) -> None:
    await send_bytes(send, status, json_encode(value))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(err: CallError) -> dict[str, Any]:
    """``to_wire()`` plus the RFC 9457 fields that do not clash with it (title, detail)."""
    body = err.to_wire()
    if body["type"] is None:  # a framework error: RFC 9457's "no further semantics" type
        body["type"] = ABOUT_BLANK
    body["title"] = _phrase(err.status)
    body["detail"] = str(err)
    return body


async def send_problem(
    send: Send, err: CallError, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    status = err.status if 400 <= err.status <= 599 else 500
    try:
        body = json_encode(problem_body(err))
    except TypeError:  # details the codec cannot encode: keep the message
        err.details = repr(err.details)
        body = json_encode(problem_body(err))
    await send_bytes(send, status, body, PROBLEM, extra)


def sse(data: bytes, event: bytes | None = None) -> bytes:
    """One Server-Sent Event (the JSON payload never contains a newline)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event + b"\ndata: " + data + b"\n\n"
