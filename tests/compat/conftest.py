"""The serve tests' ``serve`` fixture (a real ``reverie serve`` subprocess)."""

from tests.serve.conftest import serve

__all__ = ["serve"]
