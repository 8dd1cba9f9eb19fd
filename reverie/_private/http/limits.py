"""Limits an operator sets on a host's HTTP server: header size and read time, body read time,
concurrent requests per instance. Defaults are in ``HttpLimits``; docs/security.md lists them.

uvicorn bounds none of the first three with httptools (llhttp takes any header size and uvicorn
has no read timeout), so the protocol below counts what arrives before a request's headers end
and times it. uvicorn's own protocol classes do the parsing; this only watches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..transports.codec import json_encode
from .disconnect import SERVER_WATCHES, DisconnectWatch
from .head import CONTEXT_HEADERS, CONTEXT_SEEN

__all__ = ["HttpLimits", "protocol_class", "rebalance"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one HTTP server accepts. ``None`` switches a limit off.

    ``max_header_size``: bytes of request line and headers (431 beyond, connection closed).
    ``header_timeout``: seconds from a request's first byte to its headers' end (408).
    ``body_timeout``: seconds to read a whole request body (408, connection closed).
    ``max_concurrent``: requests one instance runs at once (503 + ``Retry-After`` beyond);
    a service's ``ServiceArgs: max_concurrent`` overrides it.
    """

    max_header_size: int | None = 64 * 1024
    header_timeout: float | None = 10.0
    body_timeout: float | None = 30.0
    max_concurrent: int | None = None
    retry_after: int = 1


def _problem(status: int, title: str, message: str) -> bytes:
    body = json_encode(
        {
            "code": "service",
            "type": "about:blank",
            "title": title,
            "status": status,
            "message": message,
            "detail": message,
        }
    )
    return (
        f"HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


# long: one uvicorn protocol subclass whose overridden methods close over the limits
def protocol_class(limits: HttpLimits, watch: DisconnectWatch | None = None) -> type | str:
    """The uvicorn ``http`` protocol for ``limits``: httptools' watched, else h11's with
    ``h11_max_incomplete_event_size`` doing the header count (set by the caller).

    With ``watch`` (the application's), a connection that closes before its response began
    cancels its request at once (``DisconnectWatch.client_left``), and each request's
    ``scope["state"]`` says so (``SERVER_WATCHES``): the application then skips its own
    per-request watching."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is in the 'fast' extra
        return "h11"

    timeout = limits.header_timeout
    cap = limits.max_header_size
    # The header read timeout is checked by one sweeper per server every `period` seconds, not
    # by a timer per request (a timer armed and cancelled per request cost ~10% of a request).
    # A head's start is stamped with the sweeper's coarse clock (`now[0]`, at most one period
    # behind), not with loop.time() per request; so a head is refused only once it is older
    # than `timeout + period` by that clock, never before `timeout` has really passed.
    period = min(1.0, timeout / 4) if timeout is not None else 0.0
    sweeping: dict[Any, asyncio.TimerHandle] = {}  # server state -> the sweeper's timer
    now = [0.0]
    # Per request these methods replace uvicorn's rather than wrap them (the wrapping frames
    # cost ~1% of a hello request's instructions together, callgrind), so the few lines of
    # uvicorn's `data_received`, `on_header` and `on_message_complete` are repeated below
    # (those of uvicorn 0.54, the lowest pyproject.toml allows); on_headers_complete is
    # uvicorn's own. Whether bytes belong to a head is read from uvicorn's state
    # (`rv_in_head`, inlined where a request pays for the call): no head has begun (`scope`
    # None), the last message has all arrived (`_rv_done is scope`), or the current one has no
    # method yet (its headers have not ended).
    import httptools

    def sweep(state: Any, loop: asyncio.AbstractEventLoop) -> None:
        assert timeout is not None
        now[0] = clock = loop.time()
        live = False
        for conn in list(state.connections):
            if isinstance(conn, LimitedHttpTools):
                live = True
                if (
                    conn._rv_head
                    and conn.rv_in_head()
                    and clock - conn._rv_since > (timeout + period)
                ):
                    conn._rv_refuse(
                        408,
                        "Request Timeout",
                        f"the request headers did not arrive within {timeout:g} s",
                    )
        if live:
            sweeping[state] = loop.call_later(period, sweep, state, loop)
        else:
            sweeping.pop(state, None)

    class LimitedHttpTools(HttpToolsProtocol):
        """httptools' protocol with a header-size cap, a header read timeout and a way to
        close keep-alive connections at the next response boundary (``rebalance``)."""

        # Class defaults: an instance sets only `_rv_done` per request. uvicorn's protocol
        # has 28 attributes; past 30 an instance loses its shared-key dict and every attribute
        # read in uvicorn's per-request methods slows down (callgrind: ~1.5% of a hello request).
        _rv_head = 0  # bytes of an unfinished head seen in earlier chunks (0: none)
        _rv_since = 0.0  # when that head began, by the sweeper's clock
        _rv_done: Any = None  # the scope of the last request received whole
        _rv_close_next = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if watch is not None:  # uvicorn copies app_state into each request's scope
                self.app_state = {**self.app_state, SERVER_WATCHES: watch}
            if timeout is not None and self.server_state not in sweeping:
                now[0] = self.loop.time()
                sweeping[self.server_state] = self.loop.call_later(
                    period, sweep, self.server_state, self.loop
                )

        def connection_lost(self, exc: Exception | None) -> None:
            cycle = self.cycle
            if watch is not None and cycle is not None and not cycle.response_started:
                for task in self.tasks:  # the one running this cycle (run_asgi's self)
                    frame = getattr(task.get_coro(), "cr_frame", None)  # None once it is done
                    if frame is not None and frame.f_locals.get("self") is cycle:
                        watch.client_left(task)
            super().connection_lost(exc)

        def rv_in_head(self) -> bool:
            """Whether the next bytes on this connection belong to a request's head."""
            scope = self.scope
            return scope is None or scope is self._rv_done or "method" not in scope

        def data_received(self, data: bytes) -> None:
            scope = self.scope
            heading = scope is None or scope is self._rv_done or "method" not in scope
            if heading:
                done = self._rv_done
                head = self._rv_head + len(data)
                if cap is not None and head > cap:
                    # Only the head counts: bytes after its end belong to the body.
                    end = data.find(b"\r\n\r\n")
                    if end < 0 or self._rv_head + end + 4 > cap:
                        self._rv_refuse(
                            431,
                            "Request Header Fields Too Large",
                            f"the request line and headers exceed this host's limit of {cap} bytes",
                        )
                        return
            # uvicorn's data_received from here
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            if heading:
                scope = self.scope
                if scope is not None and scope is not self._rv_done and "method" not in scope:
                    # A head is still unfinished: count it, and time it from its first chunk.
                    # When a request ended inside this chunk the new head's share of it is
                    # unknown, so it counts from the next chunk on.
                    if not self._rv_head:
                        self._rv_since = now[0]
                    self._rv_head = head if self._rv_done is done else 1
                elif self._rv_head:
                    self._rv_head = 0
            if self._rv_close_next and self.cycle is not None:
                self.cycle.keep_alive = False  # answered with Connection: close, then closed

        def on_header(self, name: bytes, value: bytes) -> None:
            name = name.lower()
            if name in CONTEXT_HEADERS:  # the application scans the headers of these only
                self.scope[CONTEXT_SEEN] = True  # type: ignore[literal-required]
            # uvicorn's on_header from here
            if name == b"expect" and value.lower() == b"100-continue":
                self.expect_100_continue = True
            self.headers.append((name, value))

        def on_message_complete(self) -> None:
            self._rv_done = self.scope
            # uvicorn's on_message_complete from here
            if (self.parser.should_upgrade() and self._should_upgrade()) or (
                self.cycle.response_complete
            ):
                return
            self.cycle.more_body = False
            self.cycle.message_event.set()

        def _rv_refuse(self, status: int, title: str, message: str) -> None:
            self._rv_head = 0
            if not self.transport.is_closing():
                self.transport.write(_problem(status, title, message))
                self.transport.close()

        def rv_close_after_next(self) -> None:
            """Close this connection once its next (or current) response is sent."""
            self._rv_close_next = True
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.keep_alive = False

    return LimitedHttpTools


async def rebalance(server: Any, workers: int, idle: float = 30.0, tries: int = 8) -> int:
    """Shed this server's share of keep-alive connections after a peer entry worker came back.

    Clients keep their connections, so a restarted worker would get nothing from them. With
    ``workers`` entry workers, this one keeps ``open - open // workers`` of the connections it
    has now and asks the rest to close after their next response (``Connection: close``). A
    client reconnects, and the kernel picks the acceptor — often this busy one again — so the
    shedding goes on, one response boundary at a time, until this worker is down to its share,
    or it has asked ``tries`` times its first excess (the kernel keeps handing them back), or
    no asked connection has closed for ``idle`` seconds (its clients went quiet). Counted in
    asks, not seconds: on a loaded machine a response boundary can take long to come. Returns
    how many connections were asked to close."""
    state = getattr(server, "server_state", None)
    if state is None or workers < 2:
        return 0
    conns = state.connections
    start = [c for c in conns if hasattr(c, "rv_close_after_next")]
    keep = len(start) - len(start) // workers
    budget = tries * max(1, len(start) // workers)
    asked = 0
    loop = asyncio.get_running_loop()
    quiet_until = loop.time() + idle
    pending: set[Any] = set()
    while True:
        live = [c for c in conns if hasattr(c, "rv_close_after_next")]
        if pending - set(live):  # an asked connection closed: the shedding moves on
            quiet_until = loop.time() + idle
        pending = {c for c in live if c._rv_close_next}
        need = min(len(live) - keep - len(pending), budget - asked)
        for conn in [c for c in live if not c._rv_close_next][: max(0, need)]:
            conn.rv_close_after_next()
            pending.add(conn)
            asked += 1
        if len(live) <= keep or (asked >= budget and not pending) or loop.time() >= quiet_until:
            return asked
        await asyncio.sleep(0.02)
