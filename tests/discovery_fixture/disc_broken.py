"""Raises on import: discovery must report this file with its traceback and load the rest."""

raise RuntimeError("disc_broken fails on purpose")
