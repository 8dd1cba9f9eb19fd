"""The HTTP listener of a serving process: the host's ASGI app on uvicorn, on a socket the
supervisor may have bound (shared by every worker of the entry service), with a bounded drain.

Signals stay with ``reverie serve``: uvicorn's own handlers are switched off, and ``stop()`` is
the one way down: stop accepting, let in-flight requests (streams included) finish within the
drain timeout, then cancel what is left.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..http.server import HttpServer

__all__ = ["listening_socket", "start_http"]

log = logging.getLogger("reverie.serve")


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Not inheritable: the supervisor hands it to entry workers
    only, explicitly (a dup per spawn), so no other child holds the port."""
    from reverie.errors import ConfigError

    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP (else a response
    # written in two parts waits ~40 ms for a delayed ACK).
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OverflowError:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: a port is a number from 0 to 65535",
            key="port",
            source="--port",
            fix="choose a port from 1024 to 65535 with --port (0: any free one)",
        ) from None
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            key="port",
            source="--port",
            fix="choose another port with --port, or stop what holds it",
        ) from None
    sock.listen(2048)
    return sock


async def start_http(
    host: Any,
    *,
    fd: int | None = None,
    bind_host: str = "127.0.0.1",
    port: int = 8000,
    drain_timeout: float = 10.0,
    access_log: bool = True,
    limits: dict[str, Any] | None = None,
) -> HttpServer:
    """Serve ``host`` over HTTP on ``fd`` (a listening socket) or on ``bind_host:port``;
    ``stop()`` on the result drains. Signal handling stays with ``reverie serve``."""
    from ..http.limits import HttpLimits
    from ..http.server import HttpServer

    sock = socket.socket(fileno=fd) if fd is not None else listening_socket(bind_host, port)
    sock.set_inheritable(False)  # what this process spawns must not hold the port
    server = HttpServer(
        host,
        sock=sock,
        handle_signals=False,
        graceful_timeout=drain_timeout,
        access_log=access_log,
        log_level="warning",
        limits=HttpLimits(**(limits or {})),
    )
    await server.start()
    return server
