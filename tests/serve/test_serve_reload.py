"""``reverie serve --reload``: a source change restarts the served graph."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import free_port, wait_gone

SOURCE = """
from reverie import feature, service


@service()
class Hello:
    @feature("GET:v")
    async def v(self) -> str:
        return "{version}"
"""


def _get(url: str) -> str | None:
    try:
        r = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    return str(r.json()) if r.status_code == 200 else None


def _until(url: str, want: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _get(url) == want:
            return True
        time.sleep(0.1)
    return False


def test_reload_restarts_on_change(tmp_path: Path) -> None:
    (tmp_path / "relsvc.py").write_text(SOURCE.format(version="v1"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/Hello/v"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reverie.cli",
            "serve",
            "relsvc:Hello",
            "--reload",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert _until(url, "v1"), "the first version never answered"
        server_pid = int(
            subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()[0]
        )
        time.sleep(0.3)  # let the watcher settle before the change
        (tmp_path / "relsvc.py").write_text(SOURCE.format(version="v2"))
        assert _until(url, "v2"), "the change was not picked up"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "relsvc.py changed; restarting" in out
        assert wait_gone([server_pid]) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
