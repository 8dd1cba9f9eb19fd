"""N "machines" as Linux network namespaces on one bridge, for multi-machine tests (root only).

Layout, all of it inside namespaces this module creates (nothing is added to the caller's own
namespace, so no route, address or link of the host changes):

- ``{prefix}-sw``: a "switch" namespace holding the bridge ``br0``;
- ``{prefix}-m1`` … ``-mN``: one per machine, with ``eth0`` (a veth whose peer ``{tag}m{i}`` is
  a port of the bridge), ``lo`` up and the address ``10.213.{k}.{i}/24``. ``k`` is picked so no
  namespace of a concurrent run uses it. No default route: traffic reaches only the other
  machines and each machine's own loopback.

``partition(i)`` sets the machine's bridge port down (its link is cut; its processes keep
running); ``heal(i)`` sets it up again. ``kill(i)`` SIGKILLs every process in the machine's
namespace. ``close()`` kills every process in every namespace created and deletes the
namespaces (which deletes their links); it runs even when a test failed, and a run killed
before it could is cleaned by the next one (namespaces named after a pid that is gone).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Machine", "Machines", "NetnsUnavailable"]

PREFIX = "rvt"
_NAME = re.compile(rf"^{PREFIX}(\d+)-(\d+)-(sw|m\d+)$")


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, no ``ip``, no kernel support)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)
    if check and res.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {res.stderr.strip()}")
    return res


def _existing() -> list[str]:
    res = _ip("netns", "list", check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def _pids_in(ns: str) -> list[int]:
    res = _ip("netns", "pids", ns, check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def _ancestors() -> set[int]:
    """This process and its parents: never ours to kill, whatever ``ip`` answers."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def _kill_ns(ns: str) -> None:
    mine = _ancestors()
    for _ in range(20):  # processes may fork while we kill: repeat until none is left
        pids = [p for p in _pids_in(ns) if p not in mine]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> None:
    """Delete namespaces a killed earlier run left behind (its pid is gone)."""
    for ns in _existing():
        m = _NAME.match(ns)
        if m and not _alive(int(m.group(1))):
            _kill_ns(ns)
            _ip("netns", "del", ns, check=False)


def check_available() -> None:
    """Raise ``NetnsUnavailable`` saying why namespaces cannot be made here."""
    if not sys.platform.startswith("linux"):
        raise NetnsUnavailable(f"network namespaces need Linux (this is {sys.platform})")
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (run the suite as root, as CI does)")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("no `ip` command (apt-get install iproute2)")


@dataclass
class Machine:
    """One namespace: its name, address and the processes started in it."""

    index: int
    ns: str
    address: str
    port: str  # the bridge port (in the switch namespace) that is its link
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"n{self.index}"

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this machine's namespace."""
        return ["ip", "netns", "exec", self.ns, *argv]

    def popen(
        self, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``argv`` in the namespace; stdout and stderr go to ``log``."""
        fh = open(log, "w")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            self.command(*argv),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            text=True,
            start_new_session=True,
        )
        fh.close()
        self.procs.append(proc)
        return proc

    def run(
        self, argv: list[str], timeout: float = 60.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )

    def pids(self) -> list[int]:
        return _pids_in(self.ns)


class Machines:
    """``count`` machines on one bridge; use as a context manager (or call ``close``)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.tag = ""
        self.switch = ""
        self.machines: list[Machine] = []
        self._made: list[str] = []

    def __enter__(self) -> Machines:
        try:
            self.create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, i: int) -> Machine:
        """Machine ``i``, counting from 1 (n1, n2, ...)."""
        return self.machines[i - 1]

    def create(self) -> None:
        check_available()
        sweep_stale()
        used = {int(m.group(2)) for ns in _existing() if (m := _NAME.match(ns))}
        free = [k for k in range(1, 255) if k not in used]
        if not free:
            raise NetnsUnavailable("every 10.213.x.0/24 test subnet is in use by other runs")
        k = random.choice(free)
        base = f"{PREFIX}{os.getpid()}-{k}"
        self.tag = f"rv{k}"
        self.switch = f"{base}-sw"
        self._add_ns(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i in range(1, self.count + 1):
            ns = f"{base}-m{i}"
            self._add_ns(ns)
            port = f"{self.tag}m{i}"
            _ip(
                "link",
                "add",
                port,
                "netns",
                self.switch,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            _ip("-n", self.switch, "link", "set", port, "master", "br0")
            _ip("-n", self.switch, "link", "set", port, "up")
            address = f"10.213.{k}.{i}"
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            self.machines.append(Machine(i, ns, address, port))

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self._made.append(ns)

    def partition(self, i: int) -> None:
        """Cut machine ``i``'s link (its processes keep running)."""
        _ip("-n", self.switch, "link", "set", self[i].port, "down")

    def heal(self, i: int) -> None:
        _ip("-n", self.switch, "link", "set", self[i].port, "up")

    def kill(self, i: int) -> None:
        """kill -9 every process in machine ``i``."""
        _kill_ns(self[i].ns)

    def close(self) -> None:
        """Kill every process in every namespace made, then delete the namespaces."""
        for m in self.machines:
            for p in m.procs:
                if p.poll() is None:  # a reaped child's pid may belong to someone else now
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
        for ns in reversed(self._made):
            _kill_ns(ns)
        for m in self.machines:
            for p in m.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)
        left = [ns for ns in self._made if ns in _existing()]
        self._made = left
        if left:
            raise RuntimeError(f"could not delete network namespaces {left}")
