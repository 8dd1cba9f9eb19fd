"""One worker process of a serve plan, as the supervisor sees it across restarts: its state,
pipes, crash history, and the policy that decides whether it is restarted."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .plan_types import ProcessPlan
from .status import ChildState

__all__ = ["SAME_SIGNAL_WINDOW", "Child", "RestartPolicy", "describe_exit", "set_pdeathsig"]

#: A second signal sooner than this after the first is the same request, not "kill now".
SAME_SIGNAL_WINDOW = 1.0


def set_pdeathsig() -> None:  # pragma: no cover - runs in the forked child before exec
    """preexec_fn: the kernel sends SIGKILL to the child when the supervisor dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)


@dataclass
class RestartPolicy:
    """Backoff doubles from ``backoff`` up to ``max_backoff``; ``max_restarts`` crashes within
    ``window`` seconds mark the worker failed."""

    max_restarts: int = 5
    window: float = 60.0
    backoff: float = 0.2
    max_backoff: float = 5.0

    def delay(self, recent: int) -> float:
        return float(min(self.max_backoff, self.backoff * (2 ** max(0, recent - 1))))


@dataclass
class Child:
    """One worker process of the plan, across its restarts."""

    plan: ProcessPlan
    proc: asyncio.subprocess.Process | None = None
    state: ChildState = ChildState.PENDING
    ctl: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    url: str | None = None
    crashes: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    restarts: int = 0
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    error: str | None = None
    pgids: set[int] = field(default_factory=set)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


def describe_exit(code: int | None) -> str:
    """``exit code 3``, ``killed by SIGKILL``: how a worker process ended."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
