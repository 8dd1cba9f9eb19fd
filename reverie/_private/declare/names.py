"""One rule for the names that become NATS subject tokens, KV keys and URL path segments:
service names, namespaces, endpoint names, a deployment's ``runtime:`` names.

Markup checks it at import and the runtime checks it again before it subscribes, so a name
the runtime would refuse (``@service(name="a:b")``) fails when the class is defined.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["NAME_RULE", "is_name", "name_problem", "safe_name"]

#: What a name may hold, as messages say it.
NAME_RULE = "non-empty and contain only letters, digits, '_' and '-'"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def is_name(value: Any) -> bool:
    """Whether ``value`` may be a service, namespace or endpoint name."""
    return isinstance(value, str) and _NAME.match(value) is not None


def safe_name(value: Any) -> str:
    """A name close to ``value`` that follows the rule, for a message's fix."""
    return _NOT_NAME.sub("-", str(value)).strip("-") or "name"


def name_problem(what: str, value: Any) -> str | None:
    """``"name 'a:b' must be non-empty and contain only ..."``, or None when it is a name."""
    if is_name(value):
        return None
    return (
        f"{what} {value!r} must be {NAME_RULE} (it becomes a NATS subject token and part of "
        f"URL paths)"
    )
