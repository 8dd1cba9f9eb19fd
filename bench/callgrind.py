"""Instructions per operation, counted by valgrind's callgrind: a count, not a time.

A shared two-core machine moves every timing by more than the few percent some targets turn
on; the number of instructions a loop executes does not move. A command runs twice under
callgrind, doing ``few`` and then ``many`` operations after the same start-up; the difference
in instructions over ``many - few`` is the figure (start-up cancels out). Hash seeds are fixed
so both runs take the same paths. valgrind (Debian package ``valgrind``) is installed with
apt-get when missing, as ``bench/wrk.py`` installs wrk.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["ensure_valgrind", "instructions_by_kind", "instructions_per"]

ROOT = Path(__file__).resolve().parent.parent


def ensure_valgrind() -> str | None:
    """valgrind's path, installed with apt-get when missing; None where that fails."""
    found = shutil.which("valgrind")
    if not found:
        print("valgrind not found; installing it with apt-get (Debian package valgrind)")
        for step in (["apt-get", "install", "-y", "valgrind"], ["apt-get", "update"]) * 2:
            subprocess.run(step, check=False, capture_output=True)
            found = shutil.which("valgrind")
            if found:
                break
    return found


def _collected(valgrind: str, cmd: list[str]) -> int:
    run = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count for {cmd}:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def instructions_per(command: Callable[[int], list[str]], few: int, many: int) -> float | None:
    """Instructions per operation of ``command(n)`` (a command line doing ``n`` operations);
    None without valgrind."""
    valgrind = ensure_valgrind()
    if valgrind is None:
        return None
    return (_collected(valgrind, command(many)) - _collected(valgrind, command(few))) / (many - few)


def instructions_by_kind(
    script: str, option: str, kinds: tuple[str, ...], count: str, few: int, many: int
) -> dict[str, float] | None:
    """``instructions_per`` of ``python SCRIPT OPTION KIND COUNT N`` for each kind (a bench's
    own counting mode); None without valgrind."""
    out: dict[str, float] = {}
    for kind in kinds:
        cmd = [sys.executable, script, option, kind, count]
        per = instructions_per(lambda n: [*cmd, str(n)], few, many)  # noqa: B023 (called here)
        if per is None:
            return None
        out[kind] = per
    return out
