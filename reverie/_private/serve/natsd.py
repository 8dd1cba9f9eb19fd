"""The embedded nats-server of ``reverie serve``: run by a keeper process (``natsguard``) in its
own process group, so Ctrl-C in a terminal does not reach it before the workers have drained.
If the supervisor is killed, the keeper lets the orphaned workers finish (bounded), then stops
the server and removes its temp dir: nothing is left behind, no in-flight call is cut first."""

from __future__ import annotations

import os
import sys
from typing import Any

from ..runtime.natsserver import NatsServer
from .natsguard import PIDS_FILE

__all__ = ["OwnedNatsServer"]


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
        return [sys.executable, "-m", "reverie._private.serve.natsguard", self._workdir(),
                f"{self.orphan_grace:g}", "--", *args]

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
