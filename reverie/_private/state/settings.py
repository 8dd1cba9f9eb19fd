"""The deployment file's ``state:`` section: where checkpoints go and how often.

```yaml
state:
  store: directory        # directory (default) | nats (a JetStream KV bucket on the runtime)
  path: .reverie/state    # directory store: relative to the deployment file
  bucket: reverie-state   # nats store: the KV bucket
  name: shop              # key prefix (default: the deployment file's name without .yaml)
  interval: 30            # seconds between periodic checkpoints; 0: only on graceful shutdown
```

A deployment without the section checkpoints to ``.reverie/state`` beside the file every 30 s.
Without a deployment file nothing is checkpointed (the state lives as long as the process).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

    from ..config.deployment import Deployment

__all__ = ["STATE", "StateSettings", "parse_state_section", "settings_for"]

STATE = "state"
KEYS = ("store", "path", "bucket", "name", "interval")
STORES = ("directory", "nats")
_NAME = re.compile(r"^[A-Za-z0-9_=-]+$")


@dataclass
class StateSettings:
    """Where checkpoints go; ``source`` names the file and line that said so."""

    store: str = "directory"
    path: str = ".reverie/state"
    bucket: str = "reverie-state"
    name: str = "default"
    interval: float = 30.0
    source: str = "default"


def parse_state_section(parser: Any, node: yaml.Node, file: str) -> StateSettings:
    """Read the ``state:`` mapping with the deployment parser's helpers (file:line errors)."""
    out = StateSettings(name=_stem(file), source=f"{file}:{node.start_mark.line + 1}")
    for key, vnode, dotted in parser.known(node, STATE, KEYS, "key", "the state section"):
        v = parser.src(vnode)
        value = v.value
        if key == "store":
            if value not in STORES:
                raise parser.err(
                    f"store must be one of {', '.join(STORES)}, got {value!r}", vnode, dotted
                )
            out.store = value
        elif key == "interval":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise parser.err(
                    f"interval is a number of seconds >= 0, got {value!r}",
                    vnode,
                    dotted,
                    fix="write e.g. 'interval: 10'; 0 checkpoints only on graceful shutdown",
                )
            out.interval = float(value)
        elif key == "path":
            if not isinstance(value, str) or not value:
                raise parser.err(f"path is a directory, got {value!r}", vnode, dotted)
            out.path = value
        elif not isinstance(value, str) or not _NAME.match(value):
            raise parser.err(
                f"{key} must be letters, digits, '_', '=' or '-', got {value!r}", vnode, dotted
            )
        else:
            setattr(out, key, value)
    return out


def _stem(file: str) -> str:
    base = os.path.basename(file)
    for ext in (".yaml", ".yml"):
        base = base.removesuffix(ext)
    return re.sub(r"[^A-Za-z0-9_=-]", "-", base) or "default"


def settings_for(dep: Deployment | None) -> StateSettings | None:
    """The checkpoint settings of a deployment (its section, else the defaults), resolving a
    relative directory against the deployment file; ``None`` without a deployment file."""
    if dep is None:
        return None
    found: StateSettings | None = getattr(dep, "state", None)
    settings = found or StateSettings(name=_stem(dep.path), source=f"default for {dep.path}")
    if settings.store == "directory" and not os.path.isabs(settings.path):
        base = os.path.dirname(os.path.abspath(dep.path)) if dep.path != "<string>" else "."
        settings.path = os.path.join(base, settings.path)
    return settings
