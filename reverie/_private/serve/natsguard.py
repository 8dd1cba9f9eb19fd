"""The embedded nats-server's keeper: ``python -m reverie._private.serve.natsguard WORKDIR
GRACE -- nats-server ARGS...``.

A supervisor killed with -9 cannot stop its nats-server nor remove its temp dir; a server that
died with it would cut every in-flight call between the orphaned workers while they drain, and
leave the JetStream temp dir behind. The keeper runs the server as its child (which dies with
the keeper); it is told of the supervisor's death by ``PR_SET_PDEATHSIG`` (SIGUSR1) or by its
parent changing, then waits for the workers listed in ``WORKDIR/workers.pids`` to exit (at most
``GRACE`` seconds), stops the server and removes ``WORKDIR``. A normal stop (SIGTERM from the
supervisor) is passed on to the server; when the server exits, the keeper exits with its status,
so the supervisor's restart logic sees a server death as such. Python's ``subprocess`` rather than
a shell: the signal and pid bookkeeping is the whole point, and it must not depend on what ``sh``
does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

__all__ = ["PIDS_FILE", "main"]

PIDS_FILE = "workers.pids"


def _prctl_deathsig(sig: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, sig, 0, 0, 0)


def _server_deathsig() -> None:  # pragma: no cover - runs in the forked child before exec
    _prctl_deathsig(signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _worker_pids(workdir: str) -> list[int]:
    try:
        with open(os.path.join(workdir, PIDS_FILE)) as fh:
            return [int(p) for p in fh.read().split() if p.isdigit()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    workdir, grace, sep, *server = args
    assert sep == "--" and server, "usage: natsguard WORKDIR GRACE -- nats-server ARGS..."
    parent = os.getppid()
    orphaned = False

    def on_orphan(*_: object) -> None:
        nonlocal orphaned
        orphaned = True

    signal.signal(signal.SIGUSR1, on_orphan)
    _prctl_deathsig(signal.SIGUSR1)
    proc = subprocess.Popen(
        server,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_server_deathsig,
    )

    def on_stop(*_: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the supervisor
    while True:
        try:
            code = proc.wait(0.1)
        except subprocess.TimeoutExpired:
            if orphaned or os.getppid() != parent:
                break
            continue
        return code if code >= 0 else 128 - code
    # The supervisor is gone: let its orphaned workers drain through us, then clean up.
    deadline = time.monotonic() + float(grace)
    while time.monotonic() < deadline and any(_alive(p) for p in _worker_pids(workdir)):
        time.sleep(0.05)
    proc.terminate()
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
