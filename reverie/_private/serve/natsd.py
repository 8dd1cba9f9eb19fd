"""The embedded nats-server of ``reverie serve``: run by a keeper process (``natsguard``) in its
own process group, so Ctrl-C in a terminal does not reach it before the workers have drained.
If the supervisor is killed, the keeper lets the orphaned workers finish (bounded), then stops
the server and removes its temp dir: nothing is left behind, no in-flight call is cut first."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..runtime.natsserver import NatsServer
from .natsguard import PIDS_FILE

if TYPE_CHECKING:
    from .child import RestartPolicy
    from .output import Output
    from .plan_types import ServePlan

__all__ = ["OwnedNatsServer", "keep_alive", "start_embedded"]


class OwnedNatsServer(NatsServer):
    """A loopback nats-server on a free port, its store in a temp dir, owned by the supervisor.

    ``orphan_grace``: how long the keeper waits for orphaned workers before it stops the
    server (they give themselves a few seconds, then exit)."""

    def __init__(self, *args: Any, orphan_grace: float = 6.0, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.orphan_grace = orphan_grace

    def popen_options(self) -> dict[str, Any]:
        return {"process_group": 0}

    def command(self, args: list[str]) -> list[str]:
        return [
            sys.executable,
            "-m",
            "reverie._private.serve.natsguard",
            self._workdir(),
            f"{self.orphan_grace:g}",
            "--",
            *args,
        ]

    @property
    def workdir(self) -> str:
        return self._workdir()

    def note_workers(self, pids: list[int]) -> None:
        """Tell the keeper which processes to wait for if the supervisor dies."""
        path = os.path.join(self._workdir(), PIDS_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(" ".join(map(str, pids)))
        os.replace(tmp, path)


async def start_embedded(plan: ServePlan, out: Output) -> OwnedNatsServer:
    """Start the plan's embedded nats-server (a cluster member when the plan says so) and say
    where it listens and keeps its store."""
    host, port = plan.nats_listen
    nats = OwnedNatsServer(port, host=host, cluster=plan.nats_cluster, server_name=plan.nats_name)
    await nats.start()
    member = ""
    if plan.nats_cluster is not None:
        c = plan.nats_cluster
        member = (
            f", member {plan.nats_name!r} of cluster {c.name!r}, routes on "
            f"{c.listen} to {', '.join(c.routes) or 'nobody yet'}"
        )
    out.info(f"embedded nats-server on {nats.url} (pid {nats.pid}{member})")
    out.info(
        f"embedded nats-server keeps its JetStream store in {nats.workdir} "
        f"(removed when serve stops, even if it is killed)"
    )
    return nats


async def keep_alive(
    nats: OwnedNatsServer, out: Output, policy: RestartPolicy, stopping: Callable[[], bool]
) -> str | None:
    """Restart ``nats`` on its port whenever it dies, until ``stopping()``; the reason to give
    up (it died too often, or cannot start again), or None."""
    crashes: deque[float] = deque(maxlen=64)
    while not stopping():
        await asyncio.sleep(0.25)
        if nats.running or stopping():
            continue
        now = time.monotonic()
        crashes.append(now)
        recent = sum(1 for t in crashes if now - t <= policy.window)
        if recent > policy.max_restarts:
            return (
                f"the embedded nats-server died {recent} times within "
                f"{policy.window:g} s; see {nats.log_file}"
            )
        out.error(f"the embedded nats-server died; restarting it on {nats.url} (workers reconnect)")
        try:
            await nats.start()
        except Exception as exc:
            return f"cannot restart the embedded nats-server: {exc}"
        out.info(f"embedded nats-server is back on {nats.url} (pid {nats.pid})")
    return None
