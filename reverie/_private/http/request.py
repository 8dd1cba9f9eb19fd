"""``Request``: annotate a feature parameter with it to receive the raw HTTP request."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from ..transports.codec import json_decode

__all__ = ["Request"]


class Request:
    """The HTTP request a feature is answering: method, path, query, headers and body bytes.

    Header names are lower-case. The ``authorization`` header is never exposed here, so a
    handler cannot leak a caller's key by echoing its request.
    """

    __reverie_request__ = True
    __slots__ = ("_query", "body", "headers", "method", "path", "query_string")

    def __init__(
        self, method: str, path: str, query_string: bytes, headers: dict[str, str], body: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the last value wins for a repeated name)."""
        if self._query is None:
            text = self.query_string.decode("latin-1")
            self._query = dict(parse_qsl(text, keep_blank_values=True))
        return self._query

    def json(self) -> Any:
        return json_decode(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"
