"""``GraphHandle.http``: a test client for features on a running graph; and the README's test
snippet in a fresh project (a temporary directory, pytest with and without pytest-asyncio)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest

from reverie import feature, service
from reverie._private.http.plug import PlugResponse
from reverie.errors import ServiceError
from reverie.testing import run_graph

ROOT = Path(__file__).resolve().parent.parent


class NoteIn(pydantic.BaseModel):
    text: str


@service()
class Notes:
    def __init__(self) -> None:
        self.notes: dict[int, str] = {1: "first"}

    @feature("GET:notes/{id}")
    async def read(self, id: int, upper: bool = False) -> dict[str, Any]:
        if id not in self.notes:
            raise ServiceError(404, f"no note {id}")
        text = self.notes[id]
        return {"id": id, "text": text.upper() if upper else text}

    @feature("POST:notes")
    async def add(self, note: NoteIn) -> int:
        new = max(self.notes) + 1
        self.notes[new] = note.text
        return new

    @feature("DELETE:notes/{id}", access="internal")
    async def remove(self, id: int) -> None:
        self.notes.pop(id, None)


async def test_get_post_and_problem_bodies() -> None:
    async with run_graph(Notes) as g:
        http = g.http("Notes")
        r = await http.get("notes/1", params={"upper": True})
        assert isinstance(r, PlugResponse)
        assert r.status == 200 and r.json() == {"id": 1, "text": "FIRST"}
        r = await http.post("notes", json={"text": "second"})
        assert r.status == 200 and r.json() == 2
        assert (await http.get("/notes/2")).json()["text"] == "second"
        r = await http.get("notes/9")
        assert r.status == 404 and r.json()["message"] == "no note 9"
        r = await http.get("notes/x")
        assert r.status == 422 and "id" in r.json()["message"]
        r = await http.post("notes", json={"txt": "x"})
        assert r.status == 422 and "text" in r.json()["message"]


async def test_access_is_that_of_an_outside_caller_unless_asked() -> None:
    async with run_graph(Notes, env={"REVERIE_API_KEY": "k" * 24}) as g:
        assert (await g.http("Notes").delete("notes/1")).status == 401
        assert (await g.http("Notes", access="internal").delete("notes/1")).status == 200
        assert (await g.http("Notes", access="private").get("notes/2")).status == 404
        with pytest.raises(ValueError, match="access='secret': use public, internal or private"):
            g.http("Notes", access="secret")


async def test_same_response_as_a_plug() -> None:
    async with run_graph(Notes) as g:
        via_client = await g.http("Notes").get("notes/1")
        via_plug = await g.http("Notes").plug.at("notes", 1).get()
        assert type(via_client) is type(via_plug)
        assert via_client.json() == via_plug.json()


def _readme_blocks() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    service_code = next(b for b in blocks if "class Processor" in b)
    test_code = next(b for b in blocks if "async def test_process" in b)
    return service_code, test_code


@pytest.mark.parametrize(
    "plugins", [["-p", "no:asyncio"], []], ids=["without-pytest-asyncio", "pytest-asyncio-strict"]
)
def test_readme_snippet_runs_in_a_fresh_project(tmp_path: Path, plugins: list[str]) -> None:
    service_code, test_code = _readme_blocks()
    (tmp_path / "mymodule.py").write_text(service_code)
    (tmp_path / "test_mymodule.py").write_text(test_code)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *plugins,
            "test_mymodule.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
