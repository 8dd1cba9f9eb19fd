"""Declared service state (public markup): ``@state.snapshot(version=N)``, ``@state.restore``
and ``@state.migrate``, plus ``StateDocument``, the form a captured state travels in.

```python
from reverie import service, state

@service
class Counter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @state.snapshot(version=1)
    def save(self) -> CounterState:
        return CounterState(counts=dict(self.counts))

    @state.restore
    def load(self, s: CounterState) -> None:
        self.counts = dict(s.counts)
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._private.state.markup import migrate, restore, snapshot

if TYPE_CHECKING:
    from ._private.state.document import StateDocument

__all__ = ["StateDocument", "migrate", "restore", "snapshot"]


def __getattr__(name: str) -> Any:
    if name == "StateDocument":
        from ._private.state.document import StateDocument

        return StateDocument
    raise AttributeError(f"module 'reverie.state' has no attribute {name!r}")
