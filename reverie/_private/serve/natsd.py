"""The embedded nats-server of ``reverie serve``: ``NatsServer`` in its own process group, told
to die with the supervisor (``PR_SET_PDEATHSIG``), so Ctrl-C in a terminal does not reach it
before the workers have drained, and a killed supervisor never leaves it behind."""

from __future__ import annotations

from typing import Any

from ..natsserver import NatsServer
from .supervisor import set_pdeathsig

__all__ = ["OwnedNatsServer"]


class OwnedNatsServer(NatsServer):
    """A loopback nats-server on a free port, its store in a temp dir, owned by the supervisor."""

    def popen_options(self) -> dict[str, Any]:
        return {"process_group": 0, "preexec_fn": set_pdeathsig}
