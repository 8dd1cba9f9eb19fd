"""Starting one worker process for the supervisor: its spec, its pipes, its environment."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING

from ..http.access import INTERNAL_KEY_ENV
from .child import Child, set_pdeathsig
from .worker import SPEC_ENV, WorkerSpec

if TYPE_CHECKING:
    from .supervisor import Supervisor


def worker_spec(
    sup: Supervisor, child: Child, control_fd: int, status_fd: int, http_fd: int | None
) -> WorkerSpec:
    """The ``WorkerSpec`` the supervisor hands ``child`` through its environment."""
    p = child.plan
    plan = sup.plan
    return WorkerSpec(
        target=plan.target,
        process=p.name,
        services=list(p.services),
        deployment=plan.deployment,
        discover=plan.discover,
        sys_path=[os.getcwd()],
        index=p.index,
        count=p.count,
        nats=sup.nats_url,
        nats_replicas=plan.nats_replicas,
        direct_host=plan.direct_host.value,
        http=p.http,
        http_fd=http_fd,
        http_host=plan.http_host,
        http_port=plan.http_port,
        control_fd=control_fd,
        status_fd=status_fd,
        cpus=list(p.alloc.cpus),
        drain_timeout=sup.drain_timeout,
        log_format=sup.log_format,
        log_level=sup.log_level,
        access_log=sup.access_log,
        http_limits=sup.http_limits,
        restarts=child.restarts,
        process_total=len(sup.children),
        parent_pid=os.getpid(),
    )


async def start_worker(
    sup: Supervisor, child: Child
) -> tuple[asyncio.subprocess.Process, int, int]:
    """Start ``child``'s process: returns it, its control pipe's write end, its status read end.

    The caller holds the spawn lock: the dup of the listening socket made inheritable here must
    reach no other child.
    """
    ctl_r, ctl_w = os.pipe()
    st_r, st_w = os.pipe()
    http_fd = None
    if child.plan.http and sup.sock is not None:
        http_fd = os.dup(sup.sock.fileno())
        os.set_inheritable(http_fd, True)
    spec = worker_spec(sup, child, ctl_r, st_w, http_fd)
    env = dict(os.environ)
    env.update(child.plan.env)
    env.setdefault(INTERNAL_KEY_ENV, sup.internal_key)
    env[SPEC_ENV] = spec.to_json()
    env["PYTHONUNBUFFERED"] = "1"
    fds = [ctl_r, st_w] + ([http_fd] if http_fd is not None else [])
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "reverie._private.serve.worker",
            child.name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            pass_fds=fds,
            start_new_session=True,
            preexec_fn=set_pdeathsig,
        )
    finally:
        os.close(ctl_r)
        os.close(st_w)
        if http_fd is not None:
            os.close(http_fd)
    return proc, ctl_w, st_r
