"""The embedded nats-server of ``reverie serve``: ``NatsServer`` in its own process group, told
to die with the supervisor (``PR_SET_PDEATHSIG``), so Ctrl-C in a terminal does not reach it
before the workers have drained, and a killed supervisor never leaves it behind."""

from __future__ import annotations

import glob
import os
import subprocess

from ..natsserver import NatsServer, find_nats_server
from .supervisor import set_pdeathsig

__all__ = ["OwnedNatsServer"]


class OwnedNatsServer(NatsServer):
    """A loopback nats-server on a free port, its store in a temp dir, owned by the supervisor."""

    def _launch(self) -> None:
        # Same command line as NatsServer._launch; only the process placement differs.
        if self.running:
            return
        binary = self.binary or find_nats_server()
        work = self._workdir()
        for old in glob.glob(os.path.join(work, "*.ports")):
            os.unlink(old)
        args = [binary, "-a", self.host, "-p", str(self.port or -1),
                "--ports_file_dir", work, "-l", self.log_file]
        if self.jetstream:
            args += ["-js", "-sd", self.store_dir]
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, process_group=0, preexec_fn=set_pdeathsig,
        )
