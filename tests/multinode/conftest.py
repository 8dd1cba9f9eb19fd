"""The ``cluster`` fixture: three machines (network namespaces on a bridge), each with its own
nats-server cluster member and its own ``reverie serve --node``, plus a caller agent on n1.

If namespaces cannot be made (not root, no ``ip``), the fixture fails with the reason: these
tests never skip silently. Everything made is removed at the end, even after a failure.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reverie._private.runtime.natsserver import NatsCluster, NatsServer, find_nats_server

from .netns import Machine, Machines

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NODES = 3
CLIENT_PORT = 4222
ROUTE_PORT = 6222


def wait_until(pred: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``pred`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {timeout:g} s: {what}")
        time.sleep(0.1)


def log_events(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a ``reverie serve --log-format json`` log."""
    out = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


class AgentProc:
    """The caller on a machine (``tests/multinode/agent.py``), driven by JSON lines."""

    def __init__(self, machine: Machine, urls: str, log: Path) -> None:
        self.proc = subprocess.Popen(
            machine.command(sys.executable, "-m", "tests.multinode.agent", urls),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(log, "w"),  # noqa: SIM115
            text=True,
            start_new_session=True,
        )
        machine.procs.append(self.proc)
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.log = log
        first = self._next(60)
        assert first.get("ready"), first

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line)
        self._q.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"the agent did not answer within {timeout:g} s; its log:\n"
                + self.log.read_text()[-3000:]
            ) from None
        if line is None:
            raise AssertionError("the agent exited; its log:\n" + self.log.read_text()[-3000:])
        reply: dict[str, Any] = json.loads(line)
        return reply

    def __call__(self, op: str, timeout: float = 90.0, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self._next(timeout)
        if "error" in reply:
            raise AssertionError(f"agent {op}: {reply['error']}")
        return reply["ok"]


@dataclass
class Cluster:
    machines: Machines
    tmp: Path
    members: dict[int, subprocess.Popen[str]] = field(default_factory=dict)
    serves: dict[int, subprocess.Popen[str]] = field(default_factory=dict)
    agent: AgentProc | None = None

    def url(self, i: int) -> str:
        return f"nats://{self.machines[i].address}:{CLIENT_PORT}"

    def urls(self, first: int) -> str:
        """Every member's client URL, machine ``first``'s own first."""
        order = [first] + [i for i in range(1, NODES + 1) if i != first]
        return ",".join(self.url(i) for i in order)

    def member_log(self, i: int) -> Path:
        return self.tmp / f"nats-n{i}.log"

    def serve_log(self, i: int) -> Path:
        return self.tmp / f"serve-n{i}.log"

    def start_member(self, i: int) -> None:
        m = self.machines[i]
        routes = [f"nats://{self.machines[j].address}:{ROUTE_PORT}" for j in range(1, NODES + 1)]
        work = self.tmp / f"n{i}"
        work.mkdir(exist_ok=True)
        conf = NatsServer(cluster=NatsCluster("rvtest", f"{m.address}:{ROUTE_PORT}", routes))
        conf_path = conf._write_config(str(work))
        log = self.member_log(i)
        log.write_text("")
        self.members[i] = m.popen(
            [
                find_nats_server(),
                "-a",
                m.address,
                "-p",
                str(CLIENT_PORT),
                "-n",
                f"n{i}",
                "-js",
                "-sd",
                str(work / "js"),
                "-c",
                conf_path,
            ],
            self.tmp / f"nats-n{i}.out",
        )
        # the binary logs to stderr, which popen sends to the .out file
        wait_until(
            lambda: "Server is ready" in (self.tmp / f"nats-n{i}.out").read_text(),
            f"nats-server member n{i} ready",
            30,
        )

    def start_serve(self, i: int) -> None:
        m = self.machines[i]
        self.serves[i] = m.popen(
            [
                sys.executable,
                "-m",
                "reverie.cli",
                "serve",
                "tests.multinode.graph:Front",
                "-f",
                str(HERE / "deploy.yaml"),
                "--node",
                f"n{i}",
                "--nats",
                self.urls(i),
                "--nats-replicas",
                "3",
                "--host",
                m.address,
                "--port",
                "8000",
                "--log-format",
                "json",
                "--start-timeout",
                "90",
            ],
            self.serve_log(i),
            env={"REVERIE_TEST_NODE": f"n{i}", "PYTHONPATH": str(ROOT)},
        )

    def serve_ready(self, i: int) -> bool:
        if self.serves[i].poll() is not None:
            raise AssertionError(
                f"reverie serve on n{i} exited; its log:\n" + self.serve_log(i).read_text()[-3000:]
            )
        return any(e.get("event") == "ready" for e in log_events(self.serve_log(i)))

    def restarts(self, i: int) -> list[str]:
        """Lines of n{i}'s serve log that report a crashed or restarted process."""
        return [
            str(e.get("message"))
            for e in log_events(self.serve_log(i))
            if "restarting" in str(e.get("message")) or " is back" in str(e.get("message"))
        ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("multinode")
    with Machines(NODES) as machines:  # raises NetnsUnavailable with the reason: no skip
        c = Cluster(machines, tmp)
        try:
            for i in range(1, NODES + 1):
                c.start_member(i)
            for i in range(1, NODES + 1):
                c.start_serve(i)
            for i in range(1, NODES + 1):
                wait_until(
                    functools.partial(c.serve_ready, i), f"reverie serve --node n{i} ready", 120
                )
            c.agent = AgentProc(machines[1], c.urls(1), tmp / "agent.log")
            c.agent("wait", n=2)
            yield c
        finally:
            if os.environ.get("REVERIE_KEEP_LOGS"):
                print(f"multinode logs in {tmp}")
