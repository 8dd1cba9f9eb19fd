"""Helpers for the example graphs' end-to-end tests: a graph served over HTTP in this process, and
``reverie serve`` as a subprocess (killed on teardown, whatever happens)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from reverie import Host

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A graph running in a host of this process, with its HTTP server on a free port."""

    def __init__(self, host: Host, url: str) -> None:
        self.host = host
        self.url = url


@asynccontextmanager
async def served(
    entry: type,
    *,
    deployment: str | Path | None = None,
    config: Mapping[str | type, Mapping[str, Any]] | None = None,
    overrides: Mapping[Any, Any] | None = None,
) -> AsyncIterator[Served]:
    """Start ``entry``'s graph (serialized in-process calls, empty env) and serve it over HTTP."""
    from reverie._private.http.server import HttpServer

    host = Host(serialize=True, deployment=deployment, env={})
    host.register(entry)
    try:
        await host.start(entry, config=config, overrides=overrides)
        async with HttpServer(host, port=0, access_log=False, log_level="warning") as srv:
            yield Served(host, srv.url)
    finally:
        await host.stop()


class ServeProcess:
    """``reverie serve TARGET -f FILE --port P`` in its own session; ``wait_ready`` polls HTTP."""

    def __init__(
        self, target: str, deploy: str, *extra: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self._final = ""
        self.url = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: nobody reads the output while it runs, and a full pipe would block.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reverie.cli",
                "serve",
                target,
                "-f",
                deploy,
                "--port",
                str(self.port),
                *extra,
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        """Until ``GET path`` answers 200, the process exits (fail with its output), or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"reverie serve exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"reverie serve not ready within {timeout} s:\n{self.stop()}")

    def output(self) -> str:
        """What it printed so far."""
        if self.log.closed:
            return self._final
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        """SIGTERM, then SIGKILL the process group after 10 s; returns what it printed."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if not self.log.closed:
            self._final = self.output()
            self.log.close()
        return self._final


@pytest.fixture
def serve_process() -> Iterator[type[ServeProcess]]:
    """Start ``reverie serve`` subprocesses; every one is stopped at teardown."""
    started: list[ServeProcess] = []

    class Tracked(ServeProcess):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            started.append(self)

    yield Tracked
    for proc in started:
        proc.stop()
