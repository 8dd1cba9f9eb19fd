"""The status protocol between a worker process and what runs it (the supervisor, or the
embedded mode): one JSON object a line, whose ``event`` is a ``ChildState`` word or
``instance`` (a progress line while one instance starts)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["INSTANCE", "ChildState"]


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
