"""Version 3 of the notes contract with breaking changes under the same SID and version, and
``NotesV2``: the same changes under a new SID and version."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from reverie import config, endpoint, feature, service

SID = "sid://example.org/2026/notes"


class Note(BaseModel):
    id: int
    text: str  # tags removed from the response


class NewNote(BaseModel):
    text: str
    owner: str  # a request field added without a default


class _Impl:
    page_size: int = config(10, "notes per page")
    store_url: str = config(description="where notes are kept")  # required key added

    @endpoint()
    async def search(self, q: str, limit: int = 10, owner: str = "") -> list[Note]:
        return []

    @endpoint()
    async def add(self, note: NewNote) -> int:
        return 0

    @endpoint()
    async def get(self, id: str) -> Note:  # int -> str: a changed type
        return Note(id=0, text="")

    @endpoint()
    async def export(self, fmt: Literal["json", "csv"] = "json") -> str:  # narrowed
        return ""

    @endpoint()
    async def tagged(self, tag: str, since: int) -> list[Note]:
        return []

    @feature("GET:notes/{id}")
    async def read(self, id: int, verbose: bool = False, fields: str = "") -> Note:
        return Note(id=id, text="")


@service(sid=SID, version="1", name="Notes")
class Notes(_Impl):
    pass


@service(sid="sid://example.org/2026/notes/v2", version="2", name="Notes")
class NotesV2(_Impl):
    pass
