"""Instance states and the transitions the lifecycle allows.

created → configured → linked → starting → running → stopping → stopped, or failed from any
state before stopped. A stopped instance may be configured again (``PUT @config`` restarts).
"""

from __future__ import annotations

import enum

from reverie.errors import IllegalTransitionError

__all__ = ["State", "check_transition"]


class State(enum.StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    LINKED = "linked"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


_ALLOWED: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.CONFIGURED, State.FAILED, State.STOPPED}),
    State.CONFIGURED: frozenset({State.LINKED, State.FAILED, State.STOPPED}),
    State.LINKED: frozenset({State.STARTING, State.FAILED, State.STOPPED}),
    State.STARTING: frozenset({State.RUNNING, State.FAILED}),
    State.RUNNING: frozenset({State.STOPPING, State.FAILED}),
    State.STOPPING: frozenset({State.STOPPED, State.FAILED}),
    State.STOPPED: frozenset({State.CONFIGURED}),
    State.FAILED: frozenset({State.STOPPED, State.CONFIGURED}),
}


def check_transition(instance: str, current: State, target: State) -> None:
    """Raise ``IllegalTransitionError`` unless ``current -> target`` is allowed."""
    if target not in _ALLOWED[current]:
        raise IllegalTransitionError(instance, current.value, target.value)
