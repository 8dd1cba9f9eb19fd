"""Version 2 of the notes contract with compatible changes only (same SID and version)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from reverie import config, endpoint, feature, service

SID = "sid://example.org/2026/notes"


class Note(BaseModel):
    id: int
    text: str
    tags: list[str] = []
    author: str = ""  # a response field added


class NewNote(BaseModel):
    text: str
    pinned: bool = False  # a request field added with a default


@service(sid=SID, version="1")
class Notes:
    page_size: int = config(10, "notes per page")
    cache_size: int = config(100, "notes kept in memory")  # config key added with a default

    @endpoint()
    async def search(self, q: str, limit: int = 10, tag: str | None = None) -> list[Note]:
        return []

    @endpoint()
    async def add(self, note: NewNote) -> int:
        return 0

    @endpoint()
    async def get(self, id: int) -> Note:
        return Note(id=id, text="")

    @endpoint()
    async def export(self, fmt: Literal["json", "csv", "xml", "yaml"] = "json") -> str:
        return ""

    @endpoint()
    async def purge(self) -> int:
        return 0

    @endpoint()
    async def count(self) -> int:  # a new endpoint
        return 0

    @feature("GET:notes/{id}")
    async def read(self, id: int, verbose: bool = False) -> Note:
        return Note(id=id, text="")

    @feature("DELETE:notes/{id}", access="public")
    async def delete(self, id: int) -> None:
        return None
