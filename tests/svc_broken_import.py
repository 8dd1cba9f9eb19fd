"""Raises while importing: `reverie blueprint tests.svc_broken_import:X` must say so clearly."""

raise RuntimeError("svc_broken_import fails on purpose")
