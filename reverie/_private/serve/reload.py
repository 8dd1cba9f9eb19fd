"""``reverie serve --reload``: run ``reverie serve`` as a child and restart it when a source
file changes (watchfiles). Development only; the child does the real work and its shutdown is
the normal graceful one (SIGTERM, drain, SIGKILL after a grace period)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["run_with_reload", "source_filter"]

_EXTS = (".py", ".yaml", ".yml")


def source_filter(change: object, path: str) -> bool:
    """Python and YAML files, outside virtualenvs, caches and hidden directories."""
    if not path.endswith(_EXTS):
        return False
    parts = Path(path).parts
    return not any(p.startswith(".") or p in ("__pycache__", "node_modules") for p in parts)


def _stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def _spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
    """The serving child: its own process group (Ctrl-C reaches only us), dies with us."""
    from .supervisor import set_pdeathsig

    return subprocess.Popen(cmd, process_group=0, preexec_fn=set_pdeathsig)


def run_with_reload(argv: list[str], root: Path) -> int:
    """Run ``reverie <argv>``; on a change under ``root`` stop it and start it again."""
    import watchfiles

    cmd = [sys.executable, "-m", "reverie.cli", *argv]
    stopping = False

    def on_signal(sig: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    proc = _spawn(cmd)
    print(f"reload: watching {root} for .py/.yaml changes", file=sys.stderr, flush=True)
    try:
        for changes in watchfiles.watch(
            root,
            watch_filter=source_filter,
            raise_interrupt=True,
            rust_timeout=0,
            yield_on_timeout=False,
        ):
            names = sorted({os.path.relpath(p, root) for _, p in changes})
            print(
                f"reload: {', '.join(names[:5])} changed; restarting", file=sys.stderr, flush=True
            )
            _stop(proc)
            proc = _spawn(cmd)
    except KeyboardInterrupt:
        pass
    code = _stop(proc)
    return 0 if stopping or code in (0, -signal.SIGTERM) else code
