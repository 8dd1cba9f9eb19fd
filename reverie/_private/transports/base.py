"""The one interface every transport implements (in-process, HTTP, NATS, mock).

A transport carries calls to the endpoints of one target service. The client above it has already
validated the request and built the request context; the transport only moves the call and
translates its own failures into ``reverie.errors`` at its boundary:

- handler exceptions arrive as ``RemoteError`` (or the ``CallError`` subclass the handler raised);
  the client reports any non-``CallError`` exception escaping ``call``/``stream`` the same way,
  which is all the in-process transport needs (it hands back the handler's own generator);
- connection failures as ``TransportError``; no live instance as ``NoWorkersError``; an instance
  that vanished mid-call as ``WorkerLostError``; a passed deadline as ``DeadlineExceededError``;
- cancelling the caller (or closing a stream's iterator) cancels the producer on the serving side.

A transport with ``wire = True`` returns plain data (dicts, lists, scalars); the client converts
it back to the declared response type, so callers see the same types on every transport.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from ..call.context import RequestContext
from ..declare.service import EndpointMeta

__all__ = ["Transport"]


class Transport(ABC):
    """Carries unary and streaming calls to one target service."""

    #: True when results arrive as plain data that the client must convert to the declared type.
    wire: bool = True

    @abstractmethod
    async def call(self, endpoint: EndpointMeta, request: Any, ctx: RequestContext) -> Any:
        """Call a unary endpoint and return its result."""

    @abstractmethod
    def stream(
        self, endpoint: EndpointMeta, request: Any, ctx: RequestContext
    ) -> AsyncIterator[Any]:
        """Call a streaming endpoint. The iterator's ``aclose()`` cancels the producer."""

    async def aclose(self) -> None:
        """Release connections and subscriptions. Idempotent."""

    def describe(self) -> str:
        """Where calls go, for messages and ``reverie ls``: ``in-process``, a URL, a subject."""
        return type(self).__name__
