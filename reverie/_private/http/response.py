"""What a feature may return for full control of the answer: ``Response`` and ``StreamingResponse``.

Anything else a feature returns is encoded as JSON with status 200.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any

from ..transports.codec import json_encode

__all__ = ["Response", "StreamingResponse"]


def _header_list(
    headers: Mapping[str, str] | None, media_type: str | None, length: int | None
) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    seen_type = False
    for key, value in (headers or {}).items():
        low = key.lower()
        if low == "content-length":
            continue  # computed from the body
        seen_type = seen_type or low == "content-type"
        out.append((low.encode("latin-1"), str(value).encode("latin-1")))
    if media_type is not None and not seen_type:
        out.append((b"content-type", media_type.encode("latin-1")))
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    return out


class Response:
    """A complete answer: status, headers and a body (bytes, text, or a value sent as JSON).

    ``Response(b"...", media_type="image/png")``, ``Response("hi")`` (text/plain),
    ``Response(json={"a": 1}, status=201)``.
    """

    __slots__ = ("body", "headers", "media_type", "status")
    __reverie_response__ = True  # a feature may return it; never data on a wire

    def __init__(
        self,
        content: bytes | str | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        json: Any = None,
    ) -> None:
        if json is not None:
            if content is not None:
                raise TypeError("Response takes content or json=, not both")
            self.body = json_encode(json)
            media_type = media_type or "application/json"
        elif isinstance(content, str):
            self.body = content.encode()
            media_type = media_type or "text/plain; charset=utf-8"
        else:
            self.body = content or b""
        self.status = status
        self.headers = dict(headers or {})
        self.media_type = media_type

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return _header_list(self.headers, self.media_type, len(self.body))

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


class StreamingResponse:
    """An answer whose body is produced piece by piece by an async iterable of bytes or str.

    The producer is closed (it sees ``GeneratorExit``) when the client disconnects.
    """

    __slots__ = ("content", "headers", "media_type", "status")
    __reverie_response__ = True  # a feature may return it; never data on a wire

    def __init__(
        self,
        content: AsyncIterable[bytes | str],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = "application/octet-stream",
    ) -> None:
        self.content = content
        self.status = status
        self.headers = dict(headers or {})
        self.media_type = media_type

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return _header_list(self.headers, self.media_type, None)

    def __repr__(self) -> str:
        return f"StreamingResponse(status={self.status})"
