"""``URI``: the type of a config key that points at another service (``feed.uri``)."""

from __future__ import annotations

from typing import NewType

__all__ = ["URI"]

#: A URI-valued config key: ``http://…``, ``local://…``. Annotating a key with it tells the host
#: and tools that the value names a service, so a deployment can point it at a co-located
#: instance or a remote URL without code changes. At run time the value is a plain ``str``.
URI = NewType("URI", str)
