"""The conformance suite: the call rules of docs/semantics.md, runnable against any transport.

``reverie.testing.check_transport(kind)`` runs every rule on a new transport's kind;
Reverie's own test suite runs them on the four built-in kinds (``KINDS``).
"""

from __future__ import annotations

from .kinds import KINDS, Deployed, Kind
from .rules import RULES, Rule

__all__ = ["KINDS", "RULES", "Deployed", "Kind", "Rule"]
