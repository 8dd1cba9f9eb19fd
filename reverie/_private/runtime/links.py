"""The direct plane's connections: framing and write coalescing (``Conn``), the serving end
(``ServerConn``, one per caller process) and the calling end (``DirectLink``, one per peer).
The envelope is described in ``direct``."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import TYPE_CHECKING, Any

from ..transports.codec import msgpack_decode, msgpack_encode

if TYPE_CHECKING:
    from .direct import DirectPlane

__all__ = ["CID", "KEYLEN", "DirectLink", "ServerConn"]

log = logging.getLogger("reverie.runtime")

HELLO, WELCOME, REQ, CTL, REP, NORESP = 1, 2, 3, 4, 5, 6
_LEN = struct.Struct(">I")
_HEAD = struct.Struct(">IB")  # length, type
_REP_HEAD = struct.Struct(">IBQ")  # length, REP, call id
CID = struct.Struct(">Q")
KEYLEN = struct.Struct(">H")
#: the most one frame may hold; a bigger length means a corrupt or hostile stream
MAX_FRAME = 64 * 1024 * 1024


class Conn(asyncio.Protocol):
    """Framing and write flow control shared by both ends of a connection."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.paused = False
        self._buf = bytearray()
        self._drain: list[asyncio.Future[None]] = []
        self._out: list[bytes] = []
        #: a write went out in this turn of the event loop; later ones wait for its end
        self._turn = False
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    def _wake(self) -> None:
        waiters, self._drain = self._drain, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def drain(self) -> None:
        """Wait until the socket takes more (the peer reads too slowly)."""
        if self.paused and not self.closed:
            fut = asyncio.get_running_loop().create_future()
            self._drain.append(fut)
            await fut

    def write(self, data: bytes) -> None:
        """The first write of a turn of the event loop goes out at once (a lone call waits for
        no later turn); the rest of that turn's writes go out together at its end (32 calls in
        flight cost two system calls, not 32)."""
        if self.closed:
            return
        if self._turn:
            self._out.append(data)
            return
        self._turn = True
        self._loop.call_soon(self._end_turn)
        if self.transport is not None:
            self.transport.write(data)

    def _end_turn(self) -> None:
        self._turn = False
        self._flush()

    def close(self) -> None:
        """Send what is queued, then close (a transport closed first drops later writes: a
        stream's last items and its END would be lost)."""
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        out = self._out
        if not out or self.closed or self.transport is None:
            out.clear()
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if buf:
            buf += data
            view = memoryview(bytes(buf))
            buf.clear()
        else:
            view = memoryview(data)
        end = len(view)
        pos = 0
        unpack = _LEN.unpack_from
        while end - pos >= 4:
            (n,) = unpack(view, pos)
            if n == 0 or n > MAX_FRAME:
                self.abort(f"a frame of {n} bytes")
                return
            if end - pos - 4 < n:
                break
            start = pos + 4
            pos = start + n
            self.frame(view[start], view[start + 1 : pos])
            if self.closed:
                return
        if pos < end:
            buf += view[pos:]

    def frame(self, kind: int, body: memoryview) -> None:
        raise NotImplementedError

    def abort(self, why: str) -> None:
        log.warning("direct plane: closing a connection: %s", why)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()


class ServerConn(Conn):
    """A caller's connection to this process."""

    def __init__(self, plane: DirectPlane) -> None:
        super().__init__()
        self.plane = plane
        self.rt = plane.rt
        self.welcomed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.plane.conns.add(self)

    def send_rep(self, cid: int, frame: bytes) -> None:
        self.write(_REP_HEAD.pack(len(frame) + 9, REP, cid) + frame)

    def frame(self, kind: int, body: memoryview) -> None:
        if kind == REQ:
            if not self.welcomed:
                self.abort("a request before HELLO")
                return
            (cid,) = CID.unpack_from(body, 0)
            (klen,) = KEYLEN.unpack_from(body, 8)
            key = bytes(body[10 : 10 + klen])
            served = self.plane.endpoints.get(key)
            if served is None:
                log.info(
                    "direct plane: call %d for %s, which this process no longer serves; "
                    "the caller tries another worker",
                    cid,
                    key.decode(errors="replace"),
                )
                self.write(_REP_HEAD.pack(9, NORESP, cid))
                return
            # started right here, in the read: each call runs in a Task of its own (see
            # Served.accept), so no handler code runs in this callback
            err = served.accept((self, cid), _Reply(self, cid), body[10 + klen :], "direct")
            if err is not None:
                self.send_rep(cid, err)
        elif kind == CTL:
            try:
                frame = msgpack_decode(body)
                call_key = (self, frame[1])
            except Exception as exc:
                log.info(
                    "direct plane: dropped a control frame that could not be decoded (%s)", exc
                )
                return
            self.rt.control(frame, call_key)
        elif kind == HELLO:
            want = bytes(body).decode(errors="replace")
            if want != self.rt.worker_id:
                self.abort(f"a caller wanted worker {want!r}; this is {self.rt.worker_id}")
                return
            self.welcomed = True
            self.write(_HEAD.pack(1, WELCOME))
        else:
            self.abort(f"unknown frame type {kind}")

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.plane.conns.discard(self)
        # The caller went away: its calls here stop (as a NATS caller's CANCEL would do).
        self.rt.caller_gone(self)


class _Reply:
    """``await reply(frame)``: one call's frames to its caller."""

    __slots__ = ("cid", "conn")
    direct = True

    def __init__(self, conn: ServerConn, cid: int) -> None:
        self.conn = conn
        self.cid = cid

    async def __call__(self, frame: bytes) -> None:
        conn = self.conn
        conn.write(_REP_HEAD.pack(len(frame) + 9, REP, self.cid) + frame)
        if conn.paused:
            await conn.drain()


class DirectLink(Conn):
    """This process's connection to one peer process; calls on it are found by call id in the
    runtime's call table."""

    def __init__(self, plane: DirectPlane, iid: str, where: str) -> None:
        super().__init__()
        self.plane = plane
        self.rt = plane.rt
        self.iid = iid
        self.where = where
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        data = self.iid.encode()
        self.write(_HEAD.pack(len(data) + 1, HELLO) + data)

    def request(self, cid: int, key: bytes, payload: bytes) -> None:
        """Send a request; ``key`` is ``u16 length + ns.comp.ep`` (made once per client)."""
        self.write(_REP_HEAD.pack(len(key) + len(payload) + 9, REQ, cid) + key + payload)

    def ctl(self, frame: list[Any]) -> None:
        """Send a control frame (credit, cancel, keepalive); dropped once the link is gone."""
        if self.closed:
            return
        data = msgpack_encode(frame)
        self.write(_HEAD.pack(len(data) + 1, CTL) + data)

    def frame(self, kind: int, body: memoryview) -> None:
        if kind == REP:
            (cid,) = CID.unpack_from(body, 0)
            call = self.rt.call_for(cid)
            if call is None:
                log.debug("direct plane: dropped a frame for call %d, which already ended", cid)
                return
            try:
                frame = msgpack_decode(body[8:])
            except Exception:
                call.fail_transport("a reply frame could not be decoded")
                return
            call.on_frame(frame, len(body) - 8)
        elif kind == NORESP:
            (cid,) = CID.unpack_from(body, 0)
            call = self.rt.call_for(cid)
            if call is not None:
                call.no_responders()
        elif kind == WELCOME:
            if not self.ready.done():
                self.ready.set_result(None)
        else:
            self.abort(f"unknown frame type {kind} from worker {self.iid}")

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the handshake ({exc})"))
            self.ready.exception()  # retrieved: a failed open is reported by open()
        self.plane.link_lost(self, exc)
