"""wrk, the native HTTP load generator every req/s figure in bench/ comes from.

A Python load generator tops out near 3k req/s on this machine, below what the servers answer,
so its req/s ratios would be lower bounds. wrk (Debian package ``wrk``) is installed with apt
when missing, as scripts/browser installs chromium. Latency percentiles for the peers still
come from the Python generator (one request at a time, every answer checked).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["ensure_wrk", "run_wrk"]


def ensure_wrk() -> str:
    """The path of ``wrk``, installed with apt-get when missing (exits with why if it can't)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing it with apt-get (Debian package wrk)", flush=True)
    for step in (
        ["apt-get", "install", "-y", "wrk"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "wrk"],
    ):
        if step[1] == "update" and shutil.which("wrk"):
            break
        subprocess.run(step, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required for the req/s figures: apt-get install -y wrk")
    return found


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(
    url: str, seconds: float, connections: int, *, core: int | None = None, body: Any = None
) -> dict[str, float]:
    """One wrk run (one thread): req/s, p50/p99 ms, non-2xx answers and socket errors.

    ``core``: pin wrk to that CPU (taskset). ``body``: POST it as JSON (a wrk Lua script)."""
    wrk = ensure_wrk()
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    with tempfile.TemporaryDirectory(prefix="reverie-wrk-") as tmp:
        if body is not None:
            script = Path(tmp) / "post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(json.dumps(body))}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            cmd += ["-s", str(script)]
        out = subprocess.run(
            [*cmd, url], check=True, capture_output=True, text=True, timeout=seconds + 60
        ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec: {out[-300:]}")
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(found.group(1)),
        "p50_ms": _ms(lat.get("50", "")),
        "p99_ms": _ms(lat.get("99", "")),
        "requests": float(total.group(1)) if total else 0.0,
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": float(sum(int(x) for x in sock.groups())) if sock else 0.0,
    }
