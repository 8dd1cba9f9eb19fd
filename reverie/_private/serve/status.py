"""The status protocol between a worker process and what runs it (the supervisor, or the
embedded mode): one JSON object a line, whose ``event`` is a ``ChildState`` word or
``instance`` (a progress line while one instance starts)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

__all__ = ["INSTANCE", "ChildState", "read_lines", "read_status"]


class ChildState(StrEnum):
    """Where a worker process is. A worker reports ``loaded``, ``ready``, ``failed``,
    ``stopping`` and ``stopped``; the supervisor sets the others."""

    #: not spawned yet
    PENDING = "pending"
    #: spawned, importing the graph
    LOADING = "loading"
    #: imported, waiting for its start level's ``go``
    LOADED = "loaded"
    #: its services run
    READY = "ready"
    #: it failed to start, or crashed too often (given up on)
    FAILED = "failed"
    #: crashed; spawned again after a backoff
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"


#: The progress event: one instance of the process is ``starting`` or ``running``.
INSTANCE = "instance"


async def read_status(fd: int) -> AsyncIterator[dict[str, Any]]:
    """The status events a worker writes on the pipe ``fd`` (a line that is not JSON is
    skipped), until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(fd, "rb", 0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue
            yield event
    finally:
        transport.close()


async def read_lines(stream: asyncio.StreamReader | None) -> AsyncIterator[str]:
    """A worker's stdout or stderr, line by line (an over-long line in 64 KiB pieces)."""
    if stream is None:
        return
    while True:
        try:
            raw = await stream.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raw = await stream.read(65536)
        if not raw:
            return
        yield raw.decode(errors="replace").rstrip("\n")
