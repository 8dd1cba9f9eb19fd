"""The conformance suite: the call rules of docs/semantics.md, runnable against any transport.

``reverie.testing.check_transport(kind)`` runs every rule on a new transport's kind;
Reverie's own test suite runs them on the four built-in kinds (``KINDS``).
"""

from __future__ import annotations

from . import feature_rules as _feature_rules  # registers the feature rules in RULES
from .kinds import KINDS, Deployed, Kind
from .rules import RULES, Rule

del _feature_rules

__all__ = ["KINDS", "RULES", "Deployed", "Kind", "Rule"]
