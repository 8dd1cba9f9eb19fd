"""Markup and config that fail early and say the right thing (issue 10, part 3), in-process."""

from __future__ import annotations

from typing import Any

import httpx
import pydantic
import pytest

from reverie import URI, Host, config, endpoint, feature, service
from reverie._private.config.deployment import parse_deployment
from reverie._private.http.server import HttpServer
from reverie._private.serve.plan import build_plan
from reverie._private.serve.resources import Inventory
from reverie.errors import ConfigError, DeploymentError, MarkupError, ValidationError
from reverie.testing import run_graph


def test_a_feature_hiding_an_endpoint_fails_at_import() -> None:
    with pytest.raises(MarkupError) as info:

        @service()
        class Gen:
            @feature("POST:gen")
            @endpoint()
            async def gen(self, prompt: str) -> str:
                return prompt

    assert str(info.value) == (
        "Gen.gen: feature POST:gen of gen and endpoint 'gen' of gen both answer POST /gen; one "
        "would hide the other (fix: bind the feature elsewhere (e.g. 'POST:gen-http') or rename "
        "the endpoint with @endpoint(name=...))"
    )


def test_feature_on_another_path_and_verb_is_fine() -> None:
    @service()
    class Gen:
        @feature("GET:gen")
        @endpoint()
        async def gen(self) -> str:
            return "x"


@service()
class Typed:
    name: str = config("x")
    count: int = config(1)
    feed: URI = config("http://127.0.0.1:1/feed")

    @endpoint()
    async def ping(self) -> str:
        return self.name


async def test_a_wrong_config_type_names_the_type_it_got() -> None:
    with pytest.raises(ConfigError) as info:
        async with run_graph(Typed, config={"Typed": {"name": 5}}):
            pass
    assert str(info.value).startswith(
        "Typed.name (from run_graph(config=...)): expected str, got int 5"
    )
    with pytest.raises(ConfigError) as info:
        async with run_graph(Typed, config={"Typed": {"count": "5"}}):
            pass
    assert str(info.value).startswith(
        "Typed.count (from run_graph(config=...)): expected int, got str '5'"
    )


async def test_a_uri_key_is_checked_at_config_time() -> None:
    with pytest.raises(ConfigError) as info:
        async with run_graph(Typed, config={"Typed": {"feed": "not a uri at all"}}):
            pass
    assert str(info.value) == (
        "Typed.feed (from run_graph(config=...)): expected a URI such as "
        "'http://127.0.0.1:8000/Feed' or 'local://Feed' (scheme http, https, local, nats), got "
        "str 'not a uri at all' (fix: give feed the URL of the service it names)"
    )


def test_a_uri_key_in_the_deployment_file_names_its_line() -> None:
    dep = parse_deployment("Typed:\n  feed: somewhere\n", "deploy.yaml")
    with pytest.raises(DeploymentError) as info:
        build_plan("x:Typed", Typed, dep, Inventory([0], [], None, "test", "test"))
    assert "Typed.feed (from deploy.yaml:2): expected a URI such as" in str(info.value)


class Item(pydantic.BaseModel):
    id: int


@service()
class Bad:
    @endpoint()
    async def wrong(self) -> Item:
        return {"name": "x"}  # type: ignore[return-value]

    @endpoint()
    async def opaque(self) -> Any:
        return object()

    @feature("GET:opaque")
    async def opaque_feature(self) -> dict[str, Any]:
        return {"a": object()}


async def test_a_bad_result_says_result_and_names_endpoint_and_field() -> None:
    async with run_graph(Bad) as g:
        with pytest.raises(ValidationError) as info:
            await g.call("Bad", "wrong")
    assert str(info.value).startswith(
        "Bad.wrong: invalid result: id: Field required (got \"{'name': 'x'}\") (the handler "
        "returned something that does not match its declared Item)"
    )


async def test_an_unserializable_result_is_a_problem_body_naming_the_type() -> None:
    host = Host(env={})
    host.register(Bad)
    await host.start(Bad)
    try:
        async with (
            HttpServer(host, port=0, api_key="k" * 24) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            answers = {
                "opaque cannot be sent as JSON (object)": await http.post("/Bad/opaque"),
                "opaque_feature cannot be sent as JSON (dict)": await http.get("/Bad/opaque"),
            }
            for what, r in answers.items():
                assert r.status_code == 500
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["message"].startswith(
                    f"the result of Bad.{what}: cannot serialise a value "
                    f"of type object; what crosses a transport must be plain data"
                )
    finally:
        await host.stop()


async def test_the_namespace_shown_follows_the_deployment_runtime_section() -> None:
    from tests.messages.notes import Notes

    dep = parse_deployment("Notes:\n  runtime:\n    namespace: prod\n", "deploy.yaml")
    host = Host(env={}, deployment=dep)
    host.register(Notes)
    await host.start(Notes)
    try:
        inst = host.instance("Notes")
        assert inst.about()["namespace"] == "prod"
        assert inst.blueprint().namespace == "prod"
        async with (
            HttpServer(host, port=0, api_key="k" * 24) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            assert (await http.get("/Notes/@blueprint")).json()["namespace"] == "prod"
            assert (await http.get("/Notes/@about")).json()["namespace"] == "prod"
    finally:
        await host.stop()


def test_over_allocation_cites_the_line_of_the_service_it_names() -> None:
    from tests.serve.svc_graph import Api

    dep = parse_deployment(
        "Api:\n  ServiceArgs:\n    resources:\n      gpu: 1\n"
        "Store:\n  ServiceArgs:\n    workers: 2\n    resources:\n      gpu: 1\n",
        "deploy.yaml",
    )
    with pytest.raises(ConfigError) as info:
        build_plan("x:Api", Api, dep, Inventory([0, 1, 2, 3], [0], None, "test", "test"))
    msg = str(info.value)
    assert msg.startswith("Store.resources.gpu (from deploy.yaml:9): the plan needs 3 GPUs")
