"""Awaiting the rest of a coroutine that was already run to its first wait by hand.

A hot path runs a handler with ``send(None)`` first: one that answers without waiting needs no
Task, timer or watcher (the NATS producer's Task, the HTTP deadline's timer). One that waits is
handed on as ``Resume(step, waits_on)``, which ``await`` drives as it would have driven the
coroutine itself from there: PEP 380's expansion of ``yield from`` (values sent in, exceptions
such as a cancellation thrown in, a close passed on).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

__all__ = ["Resume"]


class Resume:
    """``await Resume(step, first)``: the rest of ``step`` (a coroutine, or an async
    generator's step) that was started with ``send(None)`` and suspended on ``first``."""

    __slots__ = ("first", "step")

    def __init__(self, step: Any, first: Any) -> None:
        self.step = step
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        step, value = self.step, self.first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # thrown in by the Task (a cancellation)
                try:
                    value = step.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = step.send(sent)
                except StopIteration as stop:
                    return stop.value
