"""The HTTP listener of a serving process: the host's ASGI app on uvicorn, on a socket the
supervisor may have bound (shared by every worker of the entry service), with a bounded drain.

Signals stay with ``reverie serve``: uvicorn's own handlers are switched off, and ``stop()`` is
the one way down: stop accepting, let in-flight requests (streams included) finish within the
drain timeout, then cancel what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

__all__ = ["HttpHandle", "bind_socket", "start_http"]

log = logging.getLogger("reverie.serve")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, inheritable so worker processes can accept on it."""
    from reverie.errors import ConfigError

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", key="port",
            source="--port", fix="choose another port with --port, or stop what holds it",
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class HttpHandle:
    """A running listener: ``url``, and ``stop()`` that drains."""

    def __init__(self, server: Any, task: asyncio.Task[None], url: str, drain: float) -> None:
        self.server = server
        self.task = task
        self.url = url
        self.drain = drain

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), self.drain + 2.0)
        except (TimeoutError, asyncio.CancelledError):
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


async def start_http(
    host: Any,
    *,
    fd: int | None = None,
    bind_host: str = "127.0.0.1",
    port: int = 8000,
    drain_timeout: float = 10.0,
) -> HttpHandle:
    """Serve ``host`` over HTTP on ``fd`` (a listening socket) or on ``bind_host:port``."""
    import uvicorn

    from ..http.app import app_for

    app = app_for(host)

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # reverie serve owns SIGINT/SIGTERM

    sock = socket.socket(fileno=fd) if fd is not None else bind_socket(bind_host, port)
    addr = sock.getsockname()
    url = f"http://{addr[0]}:{addr[1]}"
    aliases = {url}
    if addr[0] in ("127.0.0.1", "0.0.0.0"):
        aliases |= {f"http://127.0.0.1:{addr[1]}", f"http://localhost:{addr[1]}"}
    for alias in sorted(aliases):  # Plugs to these URLs stay in-process
        with contextlib.suppress(Exception):
            app.add_alias(alias)
    kw: dict[str, Any] = {"log_level": "warning", "lifespan": "off", "access_log": False,
                          "timeout_graceful_shutdown": max(1, round(drain_timeout)),
                          "server_header": False}
    config = uvicorn.Config(app, **kw)
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what went wrong
            raise RuntimeError(f"the HTTP server on {url} stopped while starting")
        await asyncio.sleep(0.005)
    return HttpHandle(server, task, url, drain_timeout)
