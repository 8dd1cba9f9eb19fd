"""Fixtures: a real nats-server per test on an ephemeral loopback port, and runtimes on it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.natsserver import NatsServer


@pytest.fixture
async def nats_server() -> AsyncIterator[NatsServer]:
    server = NatsServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        server.cleanup()


RuntimeFactory = Callable[..., Awaitable[DistributedRuntime]]


@pytest.fixture
async def make_runtime(nats_server: NatsServer) -> AsyncIterator[RuntimeFactory]:
    made: list[DistributedRuntime] = []

    async def make(**kw: Any) -> DistributedRuntime:
        rt = await DistributedRuntime.connect(nats_server.url, **kw)
        made.append(rt)
        return rt

    yield make
    for rt in reversed(made):
        await rt.close()


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory) -> DistributedRuntime:
    return await make_runtime()


class Worker:
    """A serving process started from tests/runtime/worker.py."""

    def __init__(self, proc: subprocess.Popen[str], worker_id: str) -> None:
        self.proc = proc
        self.worker_id = worker_id

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


WorkerFactory = Callable[..., Awaitable[Worker]]

_WORKER = Path(__file__).with_name("worker.py")
_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def start_worker(nats_server: NatsServer) -> AsyncIterator[WorkerFactory]:
    workers: list[Worker] = []

    async def start(*args: str) -> Worker:
        env = {**os.environ, "PYTHONPATH": str(_ROOT)}
        proc = subprocess.Popen(  # noqa: ASYNC220 - Popen does not block
            [sys.executable, str(_WORKER), nats_server.url, *args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.startswith("READY "), f"worker did not start: {line!r}"
        worker = Worker(proc, line.split()[1])
        workers.append(worker)
        return worker

    yield start
    for w in workers:
        await asyncio.to_thread(w.stop)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) until ``predicate()`` holds; TimeoutError otherwise."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling state owned by another component
            await asyncio.sleep(0.02)
