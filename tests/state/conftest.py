"""Shared by the state tests: ``reverie serve`` runs of the counter example (from tests/serve)."""

from __future__ import annotations

from tests.serve.conftest import serve

__all__ = ["serve"]
