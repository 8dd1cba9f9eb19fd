"""A small module for the CLI message tests: ``tests.messages.notes:Notes``."""

from __future__ import annotations

from reverie import URI, config, endpoint, service


@service(namespace="notes")
class Notes:
    page_size: int = config(10, "notes per page")
    store: URI = config("http://127.0.0.1:1/store", "where notes are kept")

    @endpoint()
    async def count(self) -> int:
        return self.page_size


@service()
class Store:
    @endpoint()
    async def size(self) -> int:
        return 0
