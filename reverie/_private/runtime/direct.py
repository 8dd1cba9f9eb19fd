"""The direct data plane: calls between processes over one socket per peer process, not the broker.

NATS stays the control plane (discovery, leases, blueprints, ``$SRV``); a serving process also
listens on a Unix domain socket (callers on the same machine: same boot and network namespace)
and on TCP (other machines), and advertises both in its lease entry. A caller opens one
connection per peer process and multiplexes every call on it by call id. The frames inside are
the NATS path's frames, byte for byte (see ``wire``), so credits, heartbeats, deadlines,
cancellation and errors behave the same; a peer that cannot be reached this way is called over
NATS instead.

Envelope (written by hand: the multiplexing is a few lines over ``asyncio.Protocol``, which no
maintained library offers without its own RPC model): ``u32`` length of the rest, ``u8`` type,
then

- ``HELLO``   caller -> server: the worker id the caller means to reach (utf-8)
- ``WELCOME`` server -> caller: empty; the connection is ready
- ``REQ``     caller -> server: ``u64`` call id, ``u16`` key length, key ``ns.comp.ep``, then
  the request payload ``[ctx, body, window]`` (msgpack, as on NATS)
- ``CTL``     caller -> server: a control frame ``[kind, call id, n]`` (msgpack, as on NATS)
- ``REP``     server -> caller: ``u64`` call id, then a reply frame (msgpack, as on NATS)
- ``NORESP``  server -> caller: ``u64`` call id; this process no longer serves that endpoint
  (the request was never run, so another worker may take it)
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reverie.errors import ConfigError

from .links import KEYLEN, DirectLink, ServerConn

if TYPE_CHECKING:
    from .core import DistributedRuntime
    from .server import Served

__all__ = ["DirectLink", "DirectPlane", "direct_setting", "endpoint_key", "host_id", "key_field"]

log = logging.getLogger("reverie.runtime")

#: seconds to open a connection before the call goes over NATS instead
CONNECT_TIMEOUT = 1.0
#: seconds a peer that could not be reached directly is called over NATS before trying again
RETRY_AFTER = 5.0

ENV_DIRECT = "REVERIE_DIRECT"
ENV_DIRECT_HOST = "REVERIE_DIRECT_HOST"
ENV_HOST_ID = "REVERIE_HOST_ID"


def direct_setting(value: bool | None) -> bool:
    """Whether the direct plane is on: the argument, else ``$REVERIE_DIRECT`` (on by default;
    ``0``/``off``/``false`` forces every call over NATS)."""
    if value is not None:
        return value
    raw = os.environ.get(ENV_DIRECT, "").strip().lower()
    if raw in ("", "1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ConfigError(
        f"${ENV_DIRECT}={raw!r} is not a switch",
        key=ENV_DIRECT,
        value=raw,
        fix="set it to 1 (direct connections between processes, the default) or "
        "0 (every call over NATS)",
    )


def host_id() -> str:
    """Who shares a machine (for Unix sockets): ``$REVERIE_HOST_ID``, else the kernel's boot id
    with the network namespace (abstract Unix sockets live in a network namespace)."""
    env = os.environ.get(ENV_HOST_ID)
    if env:
        return env
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        netns = os.stat("/proc/self/ns/net").st_ino
        return f"{boot}:{netns}"
    except OSError:
        return socket.gethostname()


def _tcp_host(value: str | None) -> str:
    from ..config.directhost import DEFAULT, FIX, direct_host_problem

    host = value if value is not None else os.environ.get(ENV_DIRECT_HOST, DEFAULT)
    problem = direct_host_problem(host)
    if problem is not None:
        raise ConfigError(
            problem,
            key="direct_host" if value is not None else f"${ENV_DIRECT_HOST}",
            value=host,
            fix=FIX,
        )
    return host.strip()


class DirectPlane:
    """This process's direct listeners, its links to peers and the endpoints it serves on them."""

    def __init__(self, rt: DistributedRuntime, tcp_host: str | None = None) -> None:
        self.rt = rt
        self.host_id = host_id()
        self.tcp_host = _tcp_host(tcp_host)
        #: what this process advertises in its registrations
        self.address: dict[str, Any] = {}
        #: endpoints served here, by ``ns.comp.ep`` (bytes)
        self.endpoints: dict[bytes, Served] = {}
        #: open links by peer worker id (only ready ones)
        self.links: dict[str, DirectLink] = {}
        self.conns: set[ServerConn] = set()
        self._opening: dict[str, asyncio.Future[DirectLink | None]] = {}
        #: peers called over NATS until the time given (unreachable, or no direct address)
        self._skip: dict[str, float] = {}
        self._servers: list[asyncio.AbstractServer] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        address: dict[str, Any] = {"host": self.host_id}
        name = f"\0reverie-{self.rt.worker_id}"
        try:
            self._servers.append(await loop.create_unix_server(lambda: ServerConn(self), path=name))
            address["uds"] = name[1:]
        except (OSError, NotImplementedError) as exc:  # not Linux: TCP only
            log.info("direct plane: no Unix socket (%s); TCP only", exc)
        if self.tcp_host:
            try:
                server = await loop.create_server(lambda: ServerConn(self), self.tcp_host, 0)
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen for direct calls on {self.tcp_host}: {exc}",
                    key=ENV_DIRECT_HOST,
                    value=self.tcp_host,
                    fix="set $REVERIE_DIRECT_HOST to an address of this machine, or "
                    "REVERIE_DIRECT=0 to call over NATS only",
                ) from None
            self._servers.append(server)
            port = server.sockets[0].getsockname()[1]
            address["tcp"] = [self.tcp_host, port]
        self.address = address

    # -- serving ---------------------------------------------------------------------------------

    def add(self, key: bytes, served: Served) -> None:
        self.endpoints[key] = served

    def remove(self, key: bytes) -> None:
        self.endpoints.pop(key, None)

    # -- calling ---------------------------------------------------------------------------------

    def worth_trying(self, iid: str) -> bool:
        until = self._skip.get(iid)
        if until is None:
            return True
        if until < time.monotonic():
            del self._skip[iid]
            return True
        return False

    async def open(
        self, iid: str, info: Callable[[str], dict[str, Any] | None]
    ) -> DirectLink | None:
        """The link to ``iid``, opened now if needed; None (call over NATS) when the peer does
        not serve directly or cannot be reached."""
        link = self.links.get(iid)
        if link is not None:
            return link
        pending = self._opening.get(iid)
        if pending is None:
            pending = self._opening[iid] = asyncio.get_running_loop().create_future()
            try:
                link = await self._connect(iid, info(iid))
            finally:
                del self._opening[iid]
                pending.set_result(link)
            return link
        return await asyncio.shield(pending)

    async def _connect(self, iid: str, reg: dict[str, Any] | None) -> DirectLink | None:
        addr = (reg or {}).get("direct")
        if not isinstance(addr, dict):
            self._skip[iid] = float("inf")  # this process has no direct plane: NATS for good
            return None
        loop = asyncio.get_running_loop()
        tries: list[tuple[str, Any]] = []
        if addr.get("host") == self.host_id and isinstance(addr.get("uds"), str):
            tries.append(("uds", addr["uds"]))
        tcp = addr.get("tcp")
        if isinstance(tcp, list) and len(tcp) == 2:
            tries.append(("tcp", tcp))
        errors = []
        for how, where in tries:
            label = f"unix:@{where}" if how == "uds" else f"tcp:{where[0]}:{where[1]}"

            def make(label: str = label) -> DirectLink:
                return DirectLink(self, iid, label)

            async def connect(
                how: str = how, where: Any = where, make: Callable[[], DirectLink] = make
            ) -> DirectLink:
                link: DirectLink
                if how == "uds":
                    _, link = await loop.create_unix_connection(make, path="\0" + where)
                else:
                    _, link = await loop.create_connection(make, where[0], int(where[1]))
                try:
                    await link.ready
                except BaseException:
                    link.close()
                    raise
                return link

            try:
                # wait_for, not asyncio.timeout: this may run in a handler's first step, before
                # it has a Task of its own
                link = await asyncio.wait_for(connect(), CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ConnectionError) as exc:
                errors.append(f"{label}: {exc or type(exc).__name__}")
                continue
            if self.rt.closing:
                link.close()
                return None
            self.links[iid] = link
            log.debug("direct plane: linked to %s at %s", iid, label)
            return link
        self._skip[iid] = time.monotonic() + RETRY_AFTER
        log.warning(
            "direct plane: worker %s cannot be reached directly (%s); calling it "
            "over NATS for %g s",
            iid,
            "; ".join(errors) or "no usable address",
            RETRY_AFTER,
        )
        return None

    def link_lost(self, link: DirectLink, exc: Exception | None) -> None:
        if self.links.get(link.iid) is link:
            del self.links[link.iid]
        if link.ready.done() and not link.ready.exception():
            self.rt.link_lost(
                link,
                f"the direct connection closed ({exc})" if exc else "the direct connection closed",
            )

    # -- shutdown --------------------------------------------------------------------------------

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for link in list(self.links.values()):
            link.close()
        for conn in list(self.conns):
            conn.close()
        for server in self._servers:
            try:
                async with asyncio.timeout(1.0):
                    await server.wait_closed()
            except TimeoutError:
                log.debug("direct plane: a listener did not close within 1 s")
        self._servers.clear()


def endpoint_key(ns: str, component: str, endpoint: str) -> bytes:
    """``ns.comp.ep`` as the REQ frame carries it."""
    return f"{ns}.{component}.{endpoint}".encode()


def key_field(key: bytes) -> bytes:
    """The key as a REQ frame's field: ``u16`` length, then the key."""
    return KEYLEN.pack(len(key)) + key
