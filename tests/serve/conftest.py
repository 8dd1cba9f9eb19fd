"""Run ``reverie serve`` as a subprocess and read its JSON log lines; kill leftovers on teardown."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
GRAPH = "tests.serve.svc_graph:Api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def reverie(
    *args: str, timeout: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a short ``reverie`` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "reverie.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
    )


class ServeRun:
    """A running ``reverie serve --log-format json``; ``events`` are its parsed lines."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reverie.cli",
                "serve",
                *args,
                "--port",
                str(self.port),
                "--log-format",
                "json",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.pids: set[int] = set()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"message": line.rstrip("\n"), "raw": True}
            if not isinstance(ev, dict):
                ev = {"message": str(ev), "raw": True}
            self.events.append(ev)
            self._collect_pids(ev)
            self._q.put(ev)
        self._q.put(None)

    def _collect_pids(self, ev: dict[str, Any]) -> None:
        for row in ev.get("services") or []:
            self.pids.update(int(p) for p in row.get("pids", []) if p)
        msg = str(ev.get("message", ""))
        if "(pid " in msg:
            with contextlib.suppress(ValueError):
                self.pids.add(int(msg.split("(pid ")[1].split(")")[0].split(",")[0]))

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        """The first event (already seen or coming) for which ``pred`` holds."""
        for ev in list(self.events):
            if pred(ev):
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no matching event within {timeout} s; output:\n" + "\n".join(self.lines[-40:])
                )
            try:
                got = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if got is None:
                raise AssertionError("serve exited; output:\n" + "\n".join(self.lines[-40:]))
            if pred(got):
                return got

    def ready(self, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_for(lambda e: e.get("event") == "ready", timeout)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {r["service"]: r for r in self.ready()["services"]}

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        return "\n".join(self.lines)

    def kill_all(self) -> None:
        """Teardown: SIGKILL the supervisor's group and every pid it reported."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def serve() -> Iterator[Callable[..., ServeRun]]:
    runs: list[ServeRun] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeRun:
        run = ServeRun(list(args), env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill_all()
