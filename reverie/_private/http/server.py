"""Serving a host over HTTP with uvicorn, programmatically (``reverie serve`` calls ``serve_http``).

uvicorn picks httptools when installed; run the event loop with ``loop_factory()`` to get uvloop.
Binding the socket ourselves gives the real port when ``port=0`` and a clear ``OSError`` when the
address is taken (uvicorn would ``sys.exit``). Shutdown is graceful: stop accepting, let
in-flight requests finish (bounded), then close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .access import AccessPolicy
from .app import DEFAULT_MAX_BODY
from .attach import attach_http, http_layer
from .disconnect import DisconnectWatch
from .limits import HttpLimits, protocol_class, rebalance

if TYPE_CHECKING:
    from ..host.host import Host

__all__ = ["HttpServer", "loop_factory", "serve_http"]

log = logging.getLogger("reverie.http")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop factory when installed, else asyncio's: ``asyncio.Runner(loop_factory=…)``."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the 'fast' extra
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def forwarded_allow_ips() -> str:
    """The proxies trusted to set X-Forwarded-For: uvicorn's setting, from the same variable."""
    return os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def uvicorn_options(limits: HttpLimits, watch: DisconnectWatch | None = None) -> dict[str, Any]:
    """The uvicorn settings every Reverie server uses (bench/bench_http.py measures with them);
    ``watch``: the served application's, told by each connection that closes early.

    ``proxy_headers`` off: only the access log reads the client address (nothing reads the
    scheme), so the X-Forwarded-* rewrite runs only in front of it (``HttpServer.start``), not
    as a middleware frame on every request of a server without one."""
    return {
        "http": protocol_class(limits, watch),
        "proxy_headers": False,
        "h11_max_incomplete_event_size": limits.max_header_size,
    }


class HttpServer:
    """A host's ASGI application on uvicorn: ``async with HttpServer(host, port=0) as srv:``.

    ``srv.url`` is the bound base URL (registered as an alias of the host, so Plugs to it stay
    in-process), ``public_url`` another alias. ``api_key`` defaults to ``REVERIE_API_KEY``.
    """

    def __init__(
        self,
        host: Host,
        *,
        bind_host: str = "127.0.0.1",
        port: int = 8000,
        api_key: str | None = None,
        max_body_size: int = DEFAULT_MAX_BODY,
        public_url: str | None = None,
        access_log: bool = True,
        log_level: str = "info",
        graceful_timeout: float = 10.0,
        sock: socket.socket | None = None,
        handle_signals: bool = True,
        limits: HttpLimits | None = None,
    ) -> None:
        self.host = host
        self.bind_host = bind_host
        self.port = port
        self.public_url = public_url
        existing = http_layer(host)
        if existing is not None:
            self.app = existing.app
            if api_key is not None:
                self.app.access = AccessPolicy(api_key, self.app.access.internal_key, host.env)
            self.app.max_body_size = max_body_size
            if limits is not None:
                self.app.limits = limits
        else:
            self.app = attach_http(
                host,
                access=AccessPolicy(api_key, env=host.env),
                max_body_size=max_body_size,
                limits=limits,
            )
        self.limits = self.app.limits
        self.access_log = access_log
        self.log_level = log_level
        self.graceful_timeout = graceful_timeout
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = sock
        self.handle_signals = handle_signals

    @property
    def url(self) -> str:
        host = self.bind_host if ":" not in self.bind_host else f"[{self.bind_host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind, start serving, and return once uvicorn accepts connections (within 10 s)."""
        import uvicorn

        sock = self._sock if self._sock is not None else self._bind()
        sock.setblocking(False)
        self._sock = sock
        self.bind_host, self.port = sock.getsockname()[:2]
        app: Any = self.app
        if self.access_log:
            from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

            from .accesslog import AccessLog

            # Ours: duration and request id (uvicorn's stays off); the client it logs is the
            # one X-Forwarded-For names when the peer is a trusted proxy, as uvicorn sets it.
            logged: Any = AccessLog(self.app)
            app = ProxyHeadersMiddleware(logged, trusted_hosts=forwarded_allow_ips())
        logging.getLogger("uvicorn.access").disabled = True
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level=self.log_level,
            access_log=False,
            server_header=False,
            date_header=False,
            loop="none",
            timeout_graceful_shutdown=int(self.graceful_timeout),
            log_config=None,
            **uvicorn_options(self.limits, self.app.watch),
        )
        server_cls = uvicorn.Server if self.handle_signals else _no_signal_server()
        self._server = server_cls(config)
        self._task = asyncio.get_running_loop().create_task(self._serve(sock))
        for _ in range(1000):
            if self._server.started:
                break
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped before it started serving")
            await asyncio.sleep(0.01)
        else:
            await self.stop()
            raise TimeoutError(f"uvicorn did not start serving {self.url} within 10 s")
        self.app.add_alias(self.url)
        if self.bind_host in ("127.0.0.1", "0.0.0.0"):
            self.app.add_alias(f"http://localhost:{self.port}")
            self.app.add_alias(f"http://127.0.0.1:{self.port}")
        if self.public_url:
            self.app.add_alias(self.public_url)
        log.info("serving host %s at %s", self.host.name, self.url)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.bind_host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and without
        # it a response written in two parts (head, body) waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.bind_host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno,
                f"cannot listen on {self.bind_host}:{self.port}: {exc.strerror}; "
                f"choose another --port (0 picks a free one) or stop what uses it",
            ) from None
        sock.listen(2048)
        return sock

    async def _serve(self, sock: socket.socket) -> None:
        try:
            await self._server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits on some start-up failures
            raise RuntimeError(f"uvicorn failed to start on {self.url} (exit {exc.code})") from None

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests (bounded), close. Idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.graceful_timeout + 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):  # noqa: UP041
                self._task.cancel()
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.app.close()

    async def rebalance(self, workers: int) -> int:
        """Shed this server's share of keep-alive connections (see ``limits.rebalance``)."""
        return await rebalance(self._server, workers) if self._server is not None else 0

    async def wait(self) -> None:
        """Until the server stops (``stop()``, or uvicorn's own signal handling)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _no_signal_server() -> type:
    import uvicorn

    class NoSignalServer(uvicorn.Server):
        """uvicorn without its SIGINT/SIGTERM handlers: the process owner decides when to stop."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return NoSignalServer


async def serve_http(
    host: Host,
    *,
    bind_host: str = "127.0.0.1",
    port: int = 8000,
    ready: Callable[[HttpServer], Any] | None = None,
    **options: Any,
) -> None:
    """Serve ``host`` until cancelled or interrupted (SIGINT/SIGTERM), then shut down gracefully.

    ``ready(server)`` is called once it listens (``server.port`` is the bound port when
    ``port=0``). ``options`` go to ``HttpServer`` (api_key, max_body_size, public_url,
    access_log, log_level, graceful_timeout).
    """
    server = HttpServer(host, bind_host=bind_host, port=port, **options)
    await server.start()
    try:
        if ready is not None:
            result = ready(server)
            if asyncio.iscoroutine(result):
                await result
        await server.wait()
    finally:
        await server.stop()
