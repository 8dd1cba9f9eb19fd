"""Helpers for the process-level fault tests: who holds a listening socket, the nats-server's
pid and store, bounded request loops."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

from tests.serve.conftest import ServeRun


def listening_inode(port: int) -> str:
    """The socket inode of the TCP listener on 127.0.0.1:``port`` (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        local, state, inode = f[1], f[3], f[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return inode
    raise AssertionError(f"nothing listens on port {port}")


def holders(inode: str) -> set[int]:
    """Every pid with a file descriptor on socket ``inode``."""
    out = set()
    target = f"socket:[{inode}]"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    out.add(int(pid))
                    break
        except OSError:
            continue
    return out


def nats_info(run: ServeRun) -> tuple[int, str]:
    """The embedded nats-server's pid and its temp dir, from the supervisor's log lines."""
    ev = run.wait_for(lambda e: "embedded nats-server on" in str(e.get("message")))
    pid = int(str(ev["message"]).split("(pid ")[1].rstrip(")"))
    ev = run.wait_for(lambda e: "embedded nats-server keeps its" in str(e.get("message")))
    m = re.search(r"store in (\S+) ", str(ev["message"]))
    assert m, ev
    return pid, m.group(1)


def refused(port: int) -> bool:
    """True when a connect to 127.0.0.1:``port`` is refused at once."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def event_with(run: ServeRun, text: str, timeout: float = 30.0) -> dict[str, Any]:
    return run.wait_for(lambda e: text in str(e.get("message")), timeout)
