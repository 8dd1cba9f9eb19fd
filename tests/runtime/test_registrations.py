"""Listing the workers bucket (``reverie ls``, ``reverie call``): an empty bucket is an empty
list, a key gone since its last registration is skipped, and a bucket that cannot be read is a
TransportError naming it and the fix, never an empty list."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reverie._private.call.context import RequestContext
from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.discovery import _list_subjects
from reverie._private.runtime.natsserver import NatsServer
from reverie.errors import TransportError

from .conftest import RuntimeFactory, eventually

ROOT = Path(__file__).resolve().parents[2]


async def echo(req: Any, ctx: RequestContext) -> Any:
    return req


async def _serve(rt: DistributedRuntime, endpoint: str = "echo") -> None:
    await rt.namespace("ns").component("svc").endpoint(endpoint).serve(echo, streaming=False)


async def _keys(rt: DistributedRuntime) -> list[str]:
    return sorted(await _list_subjects(rt.js, f"KV_{rt.workers_bucket}", "$KV.rv_workers."))


async def test_an_empty_bucket_lists_nothing(runtime: DistributedRuntime) -> None:
    assert await _keys(runtime) == []
    assert await runtime.registrations() == []


async def test_every_live_registration_is_listed(make_runtime: RuntimeFactory) -> None:
    a = await make_runtime(worker_id="inst-a")
    b = await make_runtime(worker_id="inst-b")
    for rt in (a, b):
        await _serve(rt, "echo")
        await _serve(rt, "other")
    regs = await a.registrations()
    assert sorted((r["endpoint"], r["worker"]) for r in regs) == [
        ("echo", "inst-a"),
        ("echo", "inst-b"),
        ("other", "inst-a"),
        ("other", "inst-b"),
    ]


async def test_deleted_and_expired_keys_are_skipped(make_runtime: RuntimeFactory) -> None:
    """A clean goodbye leaves a delete marker and a crash the server's expiry marker; both
    keys are still listed by the stream, and their reads find nothing: skipped, not an error."""
    caller = await make_runtime()
    live = await make_runtime(worker_id="inst-live")
    left = await make_runtime(worker_id="inst-left")
    crashed = await make_runtime(worker_id="inst-crashed", lease_ttl=1.0)
    for rt in (live, left, crashed):
        await _serve(rt)
    client = caller.namespace("ns").component("svc").endpoint("echo").client()
    await client.wait_for_workers(3, 10)
    await left.close()
    # a crash: stop refreshing and drop the connection without deregistering
    assert crashed.leases._task is not None
    crashed.leases._task.cancel()
    crashed.leases._entries.clear()
    crashed._closing = True
    await crashed.nc.close()
    await eventually(lambda: client.workers() == ["inst-live"], 10)
    assert await _keys(caller) == [
        "ns.svc.echo.inst-crashed",
        "ns.svc.echo.inst-left",
        "ns.svc.echo.inst-live",
    ]
    assert [r["worker"] for r in await caller.registrations()] == ["inst-live"]


async def test_a_bucket_that_cannot_be_read_fails_naming_it(runtime: DistributedRuntime) -> None:
    await _serve(runtime)
    await runtime.js.delete_stream(f"KV_{runtime.workers_bucket}")
    with pytest.raises(TransportError) as info:
        await runtime.registrations()
    msg = str(info.value)
    assert msg.startswith(
        f"cannot list the registrations: the workers bucket 'rv_workers' on NATS at "
        f"{runtime.url} does not exist ("
    )
    assert "fix: reconnect (the runtime makes the bucket when it connects)" in msg


_DENY_READS = """
authorization {
  users = [
    {user: admin, password: admin}
    {user: reader, password: reader, permissions: {publish: {deny: [
      "$JS.API.DIRECT.GET.KV_rv_workers", "$JS.API.DIRECT.GET.KV_rv_workers.>"
    ]}}}
  ]
}
"""


class _Guarded(NatsServer):
    """A nats-server whose user ``reader`` may list the workers bucket but not read its keys."""

    def __init__(self, conf: Path) -> None:
        super().__init__()
        self.conf = conf

    def command(self, args: list[str]) -> list[str]:
        return [*args, "-c", str(self.conf)]


async def test_ls_prints_a_failed_read_as_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "deny.conf"
    conf.write_text(_DENY_READS)
    server = _Guarded(conf)
    await server.start()
    host, port = server.url.removeprefix("nats://").split(":")
    rt = await DistributedRuntime.connect(f"nats://admin:admin@{host}:{port}", worker_id="w1")
    try:
        await _serve(rt)
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "reverie.cli", "ls", f"nats://reader:reader@{host}:{port}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )
    finally:
        await rt.close()
        await server.stop()
        server.cleanup()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(
        "error: cannot read the registration 'ns.svc.echo.w1' in the workers bucket "
        f"'rv_workers' on NATS at nats://reader:***@{host}:{port}: TimeoutError"
    ), proc.stderr
    assert "reader:reader" not in proc.stderr  # the password never reaches a message
    assert proc.stderr.endswith(
        "fix: check that nats-server is up and runs with JetStream (-js), and that this user "
        "may read the bucket ($JS.API.STREAM.INFO.KV_rv_workers and "
        "$JS.API.DIRECT.GET.KV_rv_workers.>)\n"
    )
