"""Blueprints from markup alone, their JSON form, the OpenAPI document and the graph views."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

import reverie
from reverie import Blueprint, Response, blueprint, depends, endpoint, feature, service
from reverie._private.contract.blueprint import SCHEMA, BlueprintFormatError, ConfigKeyInfo
from reverie._private.contract.openapi import openapi_document
from reverie._private.host.graphview import dependency_tree, render_mermaid, render_text
from reverie._private.host.registry import Registry
from reverie.errors import MarkupError
from tests import svc_declare as svc

# -- the blueprint ----------------------------------------------------------------------------


def test_lazy_reexport_from_reverie() -> None:
    assert reverie.Blueprint is Blueprint
    assert reverie.blueprint is blueprint


def test_identity_fields() -> None:
    bp = blueprint(svc.Worker)
    assert bp.schema == SCHEMA == "reverie.blueprint/1"
    assert bp.sids == [svc.WORKER_SID, svc.WORKER_V2_SID]
    assert (bp.name, bp.namespace, bp.version) == ("Worker", "llm", "2.1")
    assert bp.description == "Generates tokens."
    assert bp.copyright == "(c) 2026 Reverie tests"
    assert bp.info == "https://example.org/docs/worker"
    assert bp.implementation == "tests.svc_declare:Worker"
    assert bp.workers == 2
    assert bp.resources == {"cpu": 2, "gpu": 1, "memory": "4Gi"}


def test_config_keys() -> None:
    keys = {k.name: k for k in blueprint(svc.Worker).config}
    assert list(keys) == ["model", "api_key", "salt", "temperature", "feed.uri", "tags"]
    # @service(config={"model": "tiny"}) replaces the class default "base".
    assert keys["model"] == ConfigKeyInfo(
        name="model",
        type={"type": "string"},
        type_name="str",
        required=False,
        default="tiny",
        description="model to load",
    )
    assert keys["api_key"].required and keys["api_key"].secret
    assert keys["api_key"].default is msgspec.UNSET
    # A secret's default is never shown, but the key is still optional.
    assert not keys["salt"].required and keys["salt"].default is msgspec.UNSET
    assert keys["temperature"].type == {"type": "number"} and keys["temperature"].default == 0.7
    assert keys["feed.uri"].uri and keys["feed.uri"].type_name == "URI"
    assert keys["tags"].type == {"type": "array", "items": {"type": "string"}}
    data = blueprint(svc.Worker).to_dict()["config"]
    assert "default" not in data[1] and "default" not in data[2] and data[0]["default"] == "tiny"


def test_endpoints() -> None:
    bp = blueprint(svc.Worker)
    gen = bp.endpoint("generate")
    assert gen.streaming and not gen.idempotent and gen.method == "generate"
    assert gen.request is not None and gen.request["$ref"] == "#/$defs/Prompt"
    assert gen.request["$defs"]["Prompt"]["required"] == ["text"]
    assert gen.response["$defs"]["Token"]["properties"]["index"] == {"type": "integer"}
    assert gen.description == "Stream tokens for a prompt."
    stats = bp.endpoint("stats")
    assert (stats.method, stats.streaming, stats.idempotent) == ("get_stats", False, True)
    assert stats.request is None
    price = bp.endpoint("price")
    assert price.request is not None and price.request["title"] == "Item"  # pydantic schema
    assert price.response == {"type": "number"}
    with pytest.raises(KeyError) as info:
        bp.endpoint("nope")
    assert "blueprint Worker has no endpoint 'nope'; endpoints: generate, stats, price" in str(
        info.value
    )


def test_features_with_params_and_sources() -> None:
    feats = {f.method: f for f in blueprint(svc.Worker).features}
    get_item = feats["get_item"]
    assert (get_item.verb, get_item.pattern) == ("GET", "items/{item_id}")
    assert get_item.access == "public"
    assert get_item.description == "Fetch one item"
    assert [(p.name, p.source, p.required, p.schema) for p in get_item.params] == [
        ("item_id", "path", True, {"type": "integer"}),
        ("verbose", "query", False, {"type": "boolean"}),
    ]
    assert get_item.params[1].default is False
    assert get_item.params[0].default is msgspec.UNSET
    put_item = feats["put_item"]
    # The request context is not part of the contract.
    assert [(p.name, p.source) for p in put_item.params] == [("item_id", "path"), ("item", "body")]
    assert put_item.access == "internal"
    assert put_item.response == {"type": "null"}
    files = feats["files"]
    assert files.pattern == "files/{kind}?//*"
    assert [(p.name, p.source, p.required) for p in files.params] == [
        ("suffix", "suffix", True),
        ("kind", "path", False),
    ]
    assert feats["events"].streaming
    assert feats["ping"].verb == "*" and feats["ping"].access == "private"
    assert (feats["echo"].verb, feats["echo"].pattern) == ("POST", "echo")


def test_dependencies() -> None:
    deps = blueprint(svc.Frontend).dependencies
    assert [(d.attribute, d.target, d.optional) for d in deps] == [
        ("worker", "tests.svc_declare:Worker", False),
        ("worker_v2", svc.WORKER_V2_SID, False),
        ("cache", svc.CACHE_SID, True),
        ("missing", svc.MISSING_SID, True),
    ]
    assert deps[0].sids == [svc.WORKER_SID, svc.WORKER_V2_SID]
    assert deps[1].sids == []


def test_dependency_on_a_plain_class_has_no_sids() -> None:
    @service
    class Uses:
        helper = depends(svc.NotAService)

    (dep,) = blueprint(Uses).dependencies
    assert dep.target == "tests.svc_declare:NotAService" and dep.sids == []


def test_cached_per_class_and_accepts_an_instance() -> None:
    assert blueprint(svc.Worker) is blueprint(svc.Worker)
    assert blueprint(svc.Cache()) is blueprint(svc.Cache)


def test_not_a_service() -> None:
    with pytest.raises(MarkupError) as info:
        blueprint(svc.NotAService)
    assert "NotAService' is not a service (fix: decorate the class with @reverie.service" in str(
        info.value
    )


def test_json_round_trip_and_stable_text() -> None:
    for cls in (svc.Worker, svc.Frontend, svc.Cache, svc.CycleA):
        bp = blueprint(cls)
        text = bp.to_json()
        assert Blueprint.from_json(text) == bp
        assert Blueprint.from_json(text.encode()) == bp
        assert Blueprint.from_dict(bp.to_dict()) == bp
        assert bp.to_json() == text  # same class, same text
        assert json.loads(text)["schema"] == "reverie.blueprint/1"


def test_json_layout() -> None:
    text = blueprint(svc.Cache).to_json()
    assert text.startswith('{\n  "schema": "reverie.blueprint/1",\n  "sids": [')
    compact = blueprint(svc.Cache).to_json(indent=None)
    assert "\n" not in compact and compact.startswith('{"schema":"reverie.blueprint/1"')
    assert list(json.loads(compact)) == [
        "schema",
        "sids",
        "name",
        "namespace",
        "version",
        "description",
        "copyright",
        "info",
        "implementation",
        "workers",
        "resources",
        "config",
        "endpoints",
        "features",
        "dependencies",
    ]


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = blueprint(svc.Cache).to_dict()
    data["added_later"] = {"x": 1}
    assert Blueprint.from_dict(data) == blueprint(svc.Cache)


def test_from_json_errors() -> None:
    with pytest.raises(BlueprintFormatError) as info:
        Blueprint.from_json("{not json")
    assert str(info.value).startswith("not a valid blueprint document: JSON is malformed")
    assert "fix: pass the text that Blueprint.to_json() or 'reverie blueprint' wrote" in str(
        info.value
    )
    with pytest.raises(BlueprintFormatError) as info:
        Blueprint.from_json('{"name": "X", "workers": "two"}')
    assert "Expected `int`, got `str` - at `$.workers`" in str(info.value)
    with pytest.raises(BlueprintFormatError, match=r"Object missing required field `name`"):
        Blueprint.from_json("{}")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, reverie.errors.ReverieError)


def test_unknown_schema_version() -> None:
    text = blueprint(svc.Cache).to_json().replace("reverie.blueprint/1", "reverie.blueprint/9")
    with pytest.raises(BlueprintFormatError) as info:
        Blueprint.from_json(text)
    msg = str(info.value)
    assert "blueprint 'Cache' has schema 'reverie.blueprint/9', but this Reverie reads " in msg
    assert "fix: regenerate it with this version of Reverie" in msg


def test_from_dict_error() -> None:
    with pytest.raises(BlueprintFormatError, match=r"not a valid blueprint: Expected `array`"):
        Blueprint.from_dict({"name": "X", "sids": "sid://x"})


class Opaque:
    """A plain class: the host can pass it in-process but cannot describe it."""


def test_opaque_types_fail_at_import_and_responses_get_a_placeholder_schema() -> None:
    with pytest.raises(MarkupError, match=r"S.run: response type: .*Opaque cannot be validated"):

        @service
        class S:
            @endpoint()
            async def run(self) -> Opaque:
                return Opaque()

    @service
    class T:
        @feature("GET:odd")
        async def odd(self, q: Any = None, default: Any = Opaque) -> Response:
            return Response("x")

    bp = blueprint(T)
    (feat,) = bp.features
    assert feat.response == {"description": "Response (no JSON Schema)"}
    assert feat.params[0].schema == {} and feat.params[0].default is None
    assert feat.params[1].default.startswith("<class ")  # not JSON-able: shown as its repr
    assert Blueprint.from_json(bp.to_json()) == bp


# -- OpenAPI ----------------------------------------------------------------------------------


def _doc(**kw: Any) -> dict[str, Any]:
    return openapi_document(
        {"llm/worker": blueprint(svc.Worker), "front": blueprint(svc.Frontend)}, **kw
    )


def test_openapi_header_and_tags() -> None:
    doc = _doc(title="Demo", version="1.0", description="d", servers=["http://127.0.0.1:8000"])
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Demo", "version": "1.0", "description": "d"}
    assert doc["servers"] == [{"url": "http://127.0.0.1:8000"}]
    assert doc["tags"][0] == {
        "name": "Worker",
        "description": "Generates tokens.",
        "x-reverie-sids": [svc.WORKER_SID, svc.WORKER_V2_SID],
    }
    assert doc["tags"][1] == {"name": "Frontend"}
    json.dumps(doc)  # plain data throughout


def test_openapi_paths() -> None:
    paths = _doc()["paths"]
    assert set(paths) == {
        "/llm/worker/items/{item_id}",
        "/llm/worker/files",
        "/llm/worker/files/{kind}",
        "/llm/worker/files/{kind}/{suffix}",
        "/llm/worker/events",
        "/llm/worker/echo",
        "/llm/worker/generate",
        "/llm/worker/stats",
        "/llm/worker/price",
        "/front/ask",
    }
    assert set(paths["/llm/worker/items/{item_id}"]) == {"get", "put"}
    # the private *:any/*/ping is left out by default
    assert not any("ping" in p for p in paths)


def test_openapi_feature_parameters_and_body() -> None:
    paths = _doc()["paths"]
    get = paths["/llm/worker/items/{item_id}"]["get"]
    assert get["operationId"] == "llm_worker.get_item.get"
    assert get["summary"] == "Fetch one item"
    assert get["x-reverie-feature"] == "GET:items/{item_id}"
    assert get["parameters"] == [
        {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}},
        {"name": "verbose", "in": "query", "required": False, "schema": {"type": "boolean"}},
    ]
    assert "requestBody" not in get
    put = paths["/llm/worker/items/{item_id}"]["put"]
    assert put["x-reverie-access"] == "internal"
    assert put["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }
    assert put["security"] == [{"hostKey": []}] and "Access: **internal**" in put["description"]
    assert "security" not in get and "Access: **public**" in get["description"]
    kind = paths["/llm/worker/files/{kind}/{suffix}"]["get"]["parameters"]
    # T | None loses its null branch in a path; the catch-all is a string path parameter.
    assert kind[0] == {"name": "kind", "in": "path", "required": True, "schema": {"type": "string"}}
    assert kind[1]["name"] == "suffix" and kind[1]["schema"] == {"type": "string"}


def test_openapi_endpoints_and_streaming() -> None:
    doc = _doc()
    paths = doc["paths"]
    gen = paths["/llm/worker/generate"]["post"]
    assert gen["operationId"] == "llm_worker.generate"
    assert gen["x-reverie-endpoint"] == "generate"
    assert gen["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Prompt"
    }
    content = gen["responses"]["200"]["content"]
    assert set(content) == {"text/event-stream", "application/x-ndjson"}
    assert content["application/x-ndjson"]["schema"] == {"$ref": "#/components/schemas/Token"}
    assert content["text/event-stream"]["x-reverie-item-schema"] == {
        "$ref": "#/components/schemas/Token"
    }
    assert gen["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReverieError"
    }
    stats = paths["/llm/worker/stats"]["post"]
    assert "requestBody" not in stats and "422" not in stats["responses"]
    events = paths["/llm/worker/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    schemas = doc["components"]["schemas"]
    assert {"ReverieError", "Prompt", "Token", "Stats"} <= set(schemas)
    assert schemas["Prompt"]["required"] == ["text"]
    assert "$defs" not in json.dumps(doc)


def test_openapi_access_filter_and_any_verb() -> None:
    paths = openapi_document({"w": blueprint(svc.Worker)}, access=["public", "private"])["paths"]
    assert set(paths["/w/any/{_w1}/ping"]) == {"get", "put", "post", "delete", "patch"}
    ids = [op["operationId"] for op in paths["/w/any/{_w1}/ping"].values()]
    assert len(set(ids)) == 5
    assert "put" not in paths["/w/items/{item_id}"]  # internal left out
    wild = paths["/w/any/{_w1}/ping"]["get"]["parameters"][0]
    assert wild["description"] == "any one path segment"


def test_openapi_same_name_different_schemas_are_renamed() -> None:
    first = {"$ref": "#/$defs/Item", "$defs": {"Item": {"type": "object", "title": "A"}}}
    second = {"$ref": "#/$defs/Item", "$defs": {"Item": {"type": "object", "title": "B"}}}
    a = Blueprint(
        name="A",
        endpoints=[
            reverie._private.contract.blueprint.EndpointInfo(
                name="x", method="x", streaming=False, request=first, response=first
            )
        ],
    )
    b = Blueprint(
        name="B",
        endpoints=[
            reverie._private.contract.blueprint.EndpointInfo(
                name="x", method="x", streaming=False, request=second, response=second
            )
        ],
    )
    doc = openapi_document([("a", a), ("b", b)])
    schemas = doc["components"]["schemas"]
    assert schemas["Item"]["title"] == "A" and schemas["Item2"]["title"] == "B"
    ref_b = doc["paths"]["/b/x"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert ref_b == {"$ref": "#/components/schemas/Item2"}


def test_openapi_document_is_valid_openapi_3_1() -> None:
    """Checked against the official OpenAPI 3.1 meta-schema (bundled with schemathesis), and every
    component schema against the JSON Schema meta-schema."""
    schemathesis = pytest.importorskip("schemathesis")
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    doc = _doc(access=["public", "internal", "private"], servers=["http://127.0.0.1:8000"])
    schemathesis.openapi.from_dict(doc).validate()
    for schema in doc["components"]["schemas"].values():
        jsonschema_rs.meta.validate(schema)
    broken = {**doc, "paths": {"/x": {"get": {"responses": "nope"}}}}
    with pytest.raises(
        jsonschema_rs.ValidationError,
        match=r"'nope' is not of type 'object'|"
        r"\"nope\" is not of type \"object\"",
    ):
        schemathesis.openapi.from_dict(broken).validate()


def test_openapi_root_mount() -> None:
    paths = openapi_document({"": blueprint(svc.Cache)})["paths"]
    assert list(paths) == ["/get"]


# -- graph views ------------------------------------------------------------------------------


def test_text_tree_without_a_registry_shows_sids() -> None:
    text = render_text(dependency_tree(svc.Frontend))
    assert text.splitlines() == [
        "Frontend (tests.svc_declare:Frontend)",
        f"├── worker -> Worker (tests.svc_declare:Worker) [{svc.WORKER_SID}, {svc.WORKER_V2_SID}]",
        "│   └── feed.uri -> URI Worker.feed.uri (optional; config key; default local://feed)",
        f"├── worker_v2 -> {svc.WORKER_V2_SID}",
        f"├── cache -> {svc.CACHE_SID} (optional)",
        f"└── missing -> {svc.MISSING_SID} (optional)",
    ]


def _registry() -> Registry:
    reg = Registry()
    for cls in (svc.Worker, svc.Cache, svc.Frontend, svc.CycleA, svc.CycleB):
        reg.register(cls)
    return reg


def test_text_tree_resolves_sids_through_a_registry() -> None:
    lines = render_text(dependency_tree(svc.Frontend, _registry())).splitlines()
    assert lines[3].startswith("├── worker_v2 -> Worker (tests.svc_declare:Worker)")
    assert lines[4].startswith("├── cache -> Cache (tests.svc_declare:Cache)")
    assert lines[4].endswith("(optional)")
    assert lines[5] == f"└── missing -> {svc.MISSING_SID} (optional; not registered)"


def test_cycles_and_repeats_are_marked() -> None:
    lines = render_text(dependency_tree(svc.CycleA, _registry())).splitlines()
    assert lines[1].startswith("└── other -> CycleB")
    assert lines[2].startswith("    └── back -> CycleA") and lines[2].endswith("(cycle)")

    @service
    class Twice:
        a = depends(svc.CycleB)
        b = depends(svc.CycleB)

    lines = render_text(dependency_tree(Twice, _registry())).splitlines()
    assert lines[1].startswith("├── a -> CycleB") and "(see above)" not in lines[1]
    assert lines[-1].startswith("└── b -> CycleB") and lines[-1].endswith("(see above)")


def test_ambiguous_sid_and_plain_class_targets() -> None:
    @service(sid=svc.CACHE_SID)
    class OtherCache:
        pass

    @service
    class Uses:
        cache = depends(svc.CACHE_SID)
        helper = depends(svc.NotAService)

    reg = _registry()
    reg.register(OtherCache)
    lines = render_text(dependency_tree(Uses, reg)).splitlines()
    assert lines[1] == (
        f"├── cache -> {svc.CACHE_SID} (ambiguous: tests.svc_declare:Cache, "
        f"{OtherCache.__module__}:{OtherCache.__qualname__})"
    )
    assert lines[2] == "└── helper -> NotAService (tests.svc_declare:NotAService) (not a service)"


def test_mermaid() -> None:
    text = render_mermaid(dependency_tree(svc.Frontend, _registry()))
    assert text.splitlines() == [
        "graph TD",
        '    n0["Frontend"]',
        '    n1["Worker"]',
        "    n0 -->|worker| n1",
        '    n2(["URI Worker.feed.uri (config key; default local://feed)"])',
        "    n1 -.->|feed.uri| n2",
        "    n0 -->|worker_v2| n1",
        '    n3["Cache"]',
        "    n0 -.->|cache| n3",
        f'    n4(["{svc.MISSING_SID} (not registered)"])',
        "    n0 -.->|missing| n4",
    ]
    cycle = render_mermaid(dependency_tree(svc.CycleA, _registry())).splitlines()
    assert cycle[-2:] == ["    n0 -->|other| n1", "    n1 -->|back| n0"]


def test_mermaid_escapes_quotes() -> None:
    @service(name="Quoted")
    class Q:
        pass

    assert render_mermaid(dependency_tree(Q)) == 'graph TD\n    n0["Quoted"]'
    from reverie._private.host.graphview import GraphNode

    node = GraphNode('say "hi"', "m:C")
    assert '["say #quot;hi#quot;"]' in render_mermaid(node)


def test_openapi_models_are_components_and_the_30_rendition_is_valid() -> None:
    """Each named model is one component referenced by $ref; /docs reads a 3.0.3 rendition of
    the same document (its Swagger UI reads 3.0 only), checked against the 3.0 meta-schema."""
    from examples.hello.graph import Frontend
    from reverie._private.contract.openapi30 import downgrade_to_30

    schemathesis = pytest.importorskip("schemathesis")
    doc = openapi_document({"Frontend": blueprint(Frontend)}, version="1.2.3")
    assert doc["info"]["version"] == "1.2.3"
    op = doc["paths"]["/Frontend/generate"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Greeting"
    }
    assert doc["components"]["schemas"]["Greeting"]["required"] == ["text"]
    assert doc["components"]["securitySchemes"]["hostKey"]["scheme"] == "bearer"
    full = _doc(access=["public", "internal", "private"])
    old = downgrade_to_30(full)
    assert old["openapi"] == "3.0.3"
    text = json.dumps(old)
    assert '"type": "null"' not in text and '"const"' not in text
    schemathesis.openapi.from_dict(old).validate()
    err = downgrade_to_30(
        {"components": {"schemas": {"E": full["components"]["schemas"]["ReverieError"]}}}
    )["components"]["schemas"]["E"]
    assert err["properties"]["type"] == {
        "type": "string",
        "nullable": True,
        "description": "the remote exception type",
    }
