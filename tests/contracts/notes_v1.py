"""Version 1 of a notes contract, for ``reverie blueprint diff`` tests."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from reverie import config, endpoint, feature, service

SID = "sid://example.org/2026/notes"


class Note(BaseModel):
    id: int
    text: str
    tags: list[str] = []


class NewNote(BaseModel):
    text: str


@service(sid=SID, version="1")
class Notes:
    page_size: int = config(10, "notes per page")

    @endpoint()
    async def search(self, q: str, limit: int = 10) -> list[Note]:
        return []

    @endpoint()
    async def add(self, note: NewNote) -> int:
        return 0

    @endpoint()
    async def get(self, id: int) -> Note:
        return Note(id=id, text="")

    @endpoint()
    async def export(self, fmt: Literal["json", "csv", "xml"] = "json") -> str:
        return ""

    @endpoint()
    async def purge(self) -> int:
        return 0

    @feature("GET:notes/{id}")
    async def read(self, id: int, verbose: bool = False) -> Note:
        return Note(id=id, text="")

    @feature("DELETE:notes/{id}", access="internal")
    async def delete(self, id: int) -> None:
        return None
