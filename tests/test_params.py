"""Endpoints shaped like functions: several named parameters, optional single arguments, and
``Param`` descriptions in the blueprint and OpenAPI (in-process, over HTTP and in markup)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pydantic
import pytest

from reverie import Host, Param, blueprint, depends, endpoint, feature, service
from reverie._private.contract.openapi import openapi_document
from reverie._private.http.server import HttpServer
from reverie.errors import MarkupError, ValidationError
from reverie.testing import run_graph


class Point(pydantic.BaseModel):
    x: int
    y: int


@service()
class Search:
    @endpoint()
    async def search(
        self, q: Annotated[str, Param("the text to look for")], limit: int = 10
    ) -> list[str]:
        return [q] * limit

    @endpoint()
    async def words(self, text: str, upper: bool = False) -> AsyncIterator[str]:
        for word in text.split():
            yield word.upper() if upper else word

    @endpoint()
    async def export(self, fmt: str | None = None) -> str:
        return f"fmt={fmt}"

    @endpoint()
    async def paged(self, size: int = 3) -> int:
        return size

    @endpoint()
    async def move(self, p: Point, by: int = 1) -> Point:
        return Point(x=p.x + by, y=p.y + by)

    @feature("GET:notes/{id}")
    async def note(
        self,
        id: Annotated[int, Param("the note's number")],
        verbose: Annotated[bool, Param("include the body")] = False,
    ) -> dict[str, Any]:
        return {"id": id, "verbose": verbose}


@service()
class Front:
    search = depends(Search)

    @endpoint()
    async def go(self, q: str) -> list[str]:
        return await self.search.search(q=q, limit=2)


async def test_keyword_call_from_a_dependent() -> None:
    async with run_graph(Front) as g:
        assert await g.call("Front", "go", "x") == ["x", "x"]
        assert await g.call("Front", "go", q="y") == ["y", "y"]


async def test_defaults_make_fields_optional_and_a_mapping_works_too() -> None:
    async with run_graph(Search) as g:
        assert await g.call("Search", "search", q="a") == ["a"] * 10
        assert await g.call("Search", "search", {"q": "b", "limit": 1}) == ["b"]
        assert await g.collect("Search", "words", text="a b", upper=True) == ["A", "B"]
        moved = await g.call("Search", "move", p={"x": 1, "y": 2}, by=2)
        assert moved == Point(x=3, y=4)


async def test_optional_single_argument_need_not_be_passed() -> None:
    async with run_graph(Search) as g:
        assert await g.call("Search", "export") == "fmt=None"
        assert await g.call("Search", "export", "csv") == "fmt=csv"
        assert await g.call("Search", "paged") == 3
        assert await g.call("Search", "paged", size=5) == 5


async def test_missing_and_unknown_fields_are_named() -> None:
    async with run_graph(Search) as g:
        with pytest.raises(ValidationError, match=r"q: required field missing"):
            await g.call("Search", "search", limit=3)
        with pytest.raises(ValidationError, match=r"q: expected str, got 1"):
            await g.call("Search", "search", q=1)
        with pytest.raises(
            TypeError,
            match=r"Search.search\(\) got an unexpected keyword argument 'lmit'; did you mean "
            r"'limit'\?",
        ):
            await g.call("Search", "search", q="x", lmit=3)
        with pytest.raises(TypeError, match=r"takes either one request value or keyword"):
            await g.call("Search", "search", {"q": "x"}, limit=3)


async def test_keyword_endpoints_over_http() -> None:
    host = Host(env={})
    host.register(Search)
    await host.start(Search)
    try:
        async with (
            HttpServer(host, port=0, api_key="k" * 24) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            r = await http.post("/Search/search", json={"q": "x", "limit": 2})
            assert r.status_code == 200 and r.json() == ["x", "x"]
            r = await http.post("/Search/search", json={"limit": 2})
            assert r.status_code == 422
            assert "q: required field missing" in r.json()["message"]
            r = await http.post("/Search/search", json={"q": "x", "lmit": 2})
            assert r.status_code == 422 and "lmit" in r.json()["message"]
            r = await http.post("/Search/export")
            assert r.status_code == 200 and r.json() == "fmt=None"
            r = await http.post("/Search/paged")
            assert r.status_code == 200 and r.json() == 3
            r = await http.get("/Search/notes/4", params={"verbose": "true"})
            assert r.json() == {"id": 4, "verbose": True}
    finally:
        await host.stop()


def test_blueprint_lists_each_field_with_its_description() -> None:
    bp = blueprint(Search)
    search = bp.endpoint("search")
    assert [(p.name, p.source, p.required, p.description) for p in search.params] == [
        ("q", "field", True, "the text to look for"),
        ("limit", "field", False, ""),
    ]
    assert search.params[1].default == 10
    assert search.request_required
    assert not bp.endpoint("export").request_required
    assert bp.endpoint("export").params[0].source == "request"
    (note,) = bp.features
    assert [(p.name, p.description) for p in note.params] == [
        ("id", "the note's number"),
        ("verbose", "include the body"),
    ]


def test_openapi_shows_fields_and_descriptions() -> None:
    doc = openapi_document({"Search": blueprint(Search)})
    text = str(doc)
    assert "the text to look for" in text
    op = doc["paths"]["/Search/notes/{id}"]["get"]
    by_name = {p["name"]: p for p in op["parameters"]}
    assert by_name["id"]["description"] == "the note's number"
    assert by_name["verbose"]["description"] == "include the body"
    assert doc["paths"]["/Search/export"]["post"]["requestBody"]["required"] is False
    assert doc["paths"]["/Search/search"]["post"]["requestBody"]["required"] is True


def test_a_parameter_called_timeout_is_refused_at_import() -> None:
    with pytest.raises(MarkupError, match="parameter 'timeout' clashes with the client's"):

        @service()
        class Bad:
            @endpoint()
            async def run(self, job: str, timeout: float = 1.0) -> None: ...


def test_a_param_description_must_be_text() -> None:
    with pytest.raises(MarkupError, match=r"Param\(3\): the description must be a string"):
        Param(3)  # type: ignore[arg-type]


@pytest.fixture(params=["inprocess", "serialized", "http", "nats"])
def kind(request: Any) -> str:
    return str(request.param)


async def test_keyword_and_optional_calls_on_every_transport(kind: str) -> None:
    from reverie._private.conformance import KINDS

    async with KINDS[kind](Front) as deployed:
        front = deployed.client("Front")
        search = deployed.client("Search")
        assert await front.go(q="z") == ["z", "z"]
        assert await search.search(q="a", limit=1) == ["a"]
        assert await search.export() == "fmt=None"
        assert [w async for w in search.words(text="a b", upper=True)] == ["A", "B"]
        with pytest.raises(ValidationError, match="q: required field missing"):
            await search.search(limit=1)


@service()
class Timed:
    @endpoint(timeout=0.2)
    async def wait(self, seconds: float) -> str:
        import asyncio

        await asyncio.sleep(seconds)
        return "done"


async def test_endpoint_timeout_is_the_default_deadline_over_http() -> None:
    host = Host(env={})
    host.register(Timed)
    await host.start(Timed)
    try:
        async with (
            HttpServer(host, port=0, api_key="k" * 24) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            r = await http.post("/Timed/wait", json=0)
            assert r.status_code == 200 and r.json() == "done"
            r = await http.post("/Timed/wait", json=5)
            assert r.status_code == 504 and r.json()["code"] == "deadline_exceeded"
            r = await http.post("/Timed/wait", json=0.3, headers={"x-reverie-timeout": "5"})
            assert r.status_code == 200
    finally:
        await host.stop()


def test_endpoint_timeout_must_be_positive() -> None:
    with pytest.raises(
        MarkupError,
        match=r"@endpoint\(timeout=0\): a timeout is a number of "
        r"seconds > 0",
    ):
        endpoint(timeout=0)
