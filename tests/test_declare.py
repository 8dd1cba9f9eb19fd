"""The declaration API: what @service, @endpoint, @feature, config() and depends() record, and
every markup error they raise at class definition (never at first call)."""

# No `from __future__ import annotations`: the classes below are defined inside test functions,
# and their annotations must be real objects for the markup to resolve them.

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from reverie import (
    REQUIRED,
    URI,
    RequestContext,
    api,
    config,
    depends,
    endpoint,
    feature,
    get_meta,
    is_service,
    on_config,
    on_shutdown,
    on_start,
    service,
)
from reverie.errors import ConfigError, MarkupError
from tests.svc_declare import CACHE_SID, WORKER_SID, Cache, Worker


@dataclass
class Req:
    text: str


@dataclass
class Other:
    n: int


# -- @service ---------------------------------------------------------------------------------


def test_service_records_everything_and_keeps_a_plain_class() -> None:
    meta = get_meta(Worker)
    assert meta.sids == [WORKER_SID, "sid://reverie.test/2026/worker/v2"]
    assert (meta.name, meta.namespace, meta.version) == ("Worker", "llm", "2.1")
    assert meta.description == "Generates tokens."
    assert meta.copyright == "(c) 2026 Reverie tests"
    assert meta.info == "https://example.org/docs/worker"
    assert meta.workers == 2
    assert meta.resources == {"cpu": 2, "gpu": 1, "memory": "4Gi"}
    assert meta.config_values == {"model": "tiny"}
    assert meta.qualname == "tests.svc_declare:Worker"
    assert type(Worker) is type  # no metaclass, no base class
    Worker()  # constructible with no arguments


def test_service_defaults_and_bare_decorator() -> None:
    @service
    class Plain:
        """First line.

        More."""

    meta = get_meta(Plain)
    assert (meta.name, meta.namespace, meta.sids, meta.version) == ("Plain", "default", [], None)
    assert meta.description == "First line.\n\nMore."
    assert meta.workers == 1 and meta.resources == {}
    assert is_service(Plain)


def test_single_sid_string_becomes_a_list() -> None:
    assert get_meta(Cache).sids == [CACHE_SID]


def test_unknown_service_keyword_is_a_type_error_with_did_you_mean() -> None:
    with pytest.raises(TypeError) as info:
        service(namspace="x")
    msg = str(info.value)
    assert "@service() got an unknown keyword 'namspace'" in msg
    assert "did you mean 'namespace'?" in msg
    assert "accepted: sid, name, namespace" in msg


def test_unknown_keyword_without_a_close_match_lists_accepted() -> None:
    with pytest.raises(TypeError, match=r"unknown keyword 'zzz'; accepted: sid"):
        service(zzz=1)


def test_service_must_decorate_a_class() -> None:
    with pytest.raises(MarkupError, match=r"@service must decorate a class, not 42"):
        service(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("sid", ["http://x.org/a", "sid://", 7])
def test_sid_must_be_a_sid_uri(sid: Any) -> None:
    with pytest.raises(MarkupError) as info:

        @service(sid=sid)
        class Bad:
            pass

    assert str(info.value).startswith(f"Bad: SID {sid!r} is not a sid:// URI")
    assert "fix: write it like 'sid://example.org/2026/worker'" in str(info.value)
    assert info.value.service == "Bad"


@pytest.mark.parametrize("workers", [0, -1, "2", True, 1.5])
def test_workers_must_be_a_positive_int(workers: Any) -> None:
    with pytest.raises(MarkupError, match=rf"Bad: workers={workers!r} must be an integer >= 1"):

        @service(workers=workers)
        class Bad:
            pass


def test_unknown_resource_with_did_you_mean() -> None:
    with pytest.raises(MarkupError) as info:

        @service(resources={"gpus": 1})
        class Bad:
            pass

    assert "Bad: unknown resource 'gpus'; did you mean 'gpu'?" in str(info.value)
    assert "resources are cpu, gpu and memory" in str(info.value)


@pytest.mark.parametrize(
    ("kw", "label", "value"),
    [
        ({"name": "my worker"}, "name", "my worker"),
        ({"name": "a.b"}, "name", "a.b"),
        ({"name": "a:b"}, "name", "a:b"),
        ({"namespace": "demo@2"}, "namespace", "demo@2"),
        ({"namespace": ""}, "namespace", ""),
        ({"namespace": "x/y"}, "namespace", "x/y"),
        ({"namespace": "a>"}, "namespace", "a>"),
    ],
)
def test_name_and_namespace_must_be_subject_safe(
    kw: dict[str, Any], label: str, value: str
) -> None:
    with pytest.raises(MarkupError) as info:

        @service(**kw)
        class Bad:
            pass

    msg = str(info.value)
    assert msg.startswith(
        f"Bad: {label} {value!r} must be non-empty and contain only letters, digits, '_' and "
        f"'-' (it becomes a NATS subject token and part of URL paths)"
    )


def test_a_name_nats_would_refuse_fails_at_import_with_the_fix() -> None:
    """Markup and the runtime share one name rule: ``a:b`` passed markup once and failed only
    when served over NATS."""
    from reverie._private.runtime import wire

    with pytest.raises(ConfigError, match="cannot be used on NATS"):
        wire.check_token("component", "a:b")
    with pytest.raises(MarkupError) as info:

        @service(name="a:b")
        class Bad:
            pass

    assert str(info.value) == (
        "Bad: name 'a:b' must be non-empty and contain only letters, digits, '_' and '-' (it "
        "becomes a NATS subject token and part of URL paths) (fix: @service(name='a-b'))"
    )


def test_unresolvable_class_annotation() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            limit: "Undefined" = config(1)  # type: ignore[name-defined]  # noqa: F821

    msg = str(info.value)
    assert msg.startswith("Bad: cannot resolve an annotation: name 'Undefined' is not defined")
    assert "fix: define or import the type before the class" in msg


def test_service_must_be_constructible_without_arguments() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            def __init__(self, model: str, *args: Any, size: int, **kw: Any) -> None:
                pass

    msg = str(info.value)
    assert "Bad: a service must be constructible with no arguments" in msg
    assert "__init__ requires model, size" in msg
    assert "fix: take settings through config() keys instead" in msg


def test_init_with_defaults_is_fine() -> None:
    @service
    class Ok:
        def __init__(self, model: str = "x") -> None:
            self.model = model

    assert Ok().model == "x"


def test_decorator_config_for_unknown_key() -> None:
    with pytest.raises(MarkupError) as info:

        @service(config={"modle": "x"})
        class Bad:
            model: str = config("y")

    msg = str(info.value)
    assert "Bad: @service(config=...) sets unknown config key 'modle'" in msg
    assert "did you mean 'model'?" in msg
    assert "declared keys: model" in msg


def test_decorator_config_when_no_keys_are_declared() -> None:
    with pytest.raises(MarkupError, match=r"declared keys: none"):

        @service(config={"x": 1})
        class Bad:
            pass


# -- config() ---------------------------------------------------------------------------------


def test_config_keys_are_typed_from_annotations() -> None:
    meta = get_meta(Worker)
    keys = meta.config_keys
    assert list(keys) == ["model", "api_key", "salt", "temperature", "feed.uri", "tags"]
    assert keys["model"].annotation is str and keys["model"].default == "base"
    assert keys["model"].description == "model to load"
    assert keys["api_key"].required and keys["api_key"].secret
    assert keys["api_key"].default is REQUIRED
    assert keys["temperature"].annotation is float and not keys["temperature"].required
    assert keys["feed.uri"].attr == "feed_uri" and keys["feed.uri"].uri
    assert keys["tags"].annotation == list[str]
    assert repr(keys["model"]) == "ConfigKey(Worker.model: str)"
    assert repr(REQUIRED) == "REQUIRED"


def test_unconfigured_instance_reads_defaults_and_fails_on_required() -> None:
    w = Worker()
    assert w.model == "base"  # the class default until a host configures the instance
    assert w.feed_uri == "local://feed"
    with pytest.raises(AttributeError) as info:
        _ = w.api_key
    assert "config key Worker.api_key is required and this instance has not been configured" in (
        str(info.value)
    )
    w.__dict__["api_key"] = "set"  # what the host does
    assert w.api_key == "set"
    assert isinstance(Worker.__dict__["model"], type(get_meta(Worker).config_keys["model"]))


@pytest.mark.parametrize("bad", ["", "has space", 3])
def test_config_name_must_be_a_word(bad: Any) -> None:
    with pytest.raises(MarkupError, match=r"a key name is a non-empty string without spaces"):
        config(1, name=bad)


def test_config_with_unsupported_type_fails_at_class_definition() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            hook: "lambda_type" = config(None)  # type: ignore[valid-type]

    assert "Bad: config key hook: type" in str(info.value)
    assert "is not supported" in str(info.value)


def lambda_type() -> None:  # a function used as an annotation: not a type
    pass


def test_subclass_plain_attribute_overrides_a_config_key() -> None:
    @service
    class Base:
        model: str = config("a")
        size: int = config(1)

    @service
    class Child(Base):
        model = "fixed"

    assert list(get_meta(Base).config_keys) == ["model", "size"]
    assert list(get_meta(Child).config_keys) == ["size"]


# -- depends() --------------------------------------------------------------------------------


def test_depends_records_class_and_sid_targets() -> None:
    @service
    class Front:
        cache = depends(Cache)
        worker = depends(WORKER_SID, optional=True)

    deps = get_meta(Front).dependencies
    assert deps["cache"].target is Cache and not deps["cache"].optional
    assert deps["cache"].target_name == "Cache"
    assert deps["worker"].target == WORKER_SID and deps["worker"].optional
    assert repr(deps["worker"]) == f"depends({WORKER_SID!r}, optional=True)"
    assert repr(deps["cache"]) == "depends('Cache')"


def test_dependency_is_not_usable_before_linking() -> None:
    @service
    class Front:
        cache = depends(Cache)

    with pytest.raises(AttributeError) as info:
        _ = Front().cache
    msg = str(info.value)
    assert "dependency Front.cache -> Cache is not linked yet" in msg
    assert "reverie.testing.run_graph" in msg


def test_depends_string_must_be_a_sid() -> None:
    with pytest.raises(MarkupError) as info:
        depends("worker")
    msg = str(info.value)
    assert "depends('worker'): a string target must be a SID starting with 'sid://'" in msg
    assert "fix: pass the service class, or its SID" in msg


def test_depends_target_must_be_class_or_sid() -> None:
    with pytest.raises(MarkupError, match=r"depends\(42\): the target must be a service class"):
        depends(42)  # type: ignore[arg-type]


# -- @endpoint --------------------------------------------------------------------------------


def test_endpoints_unary_and_streaming() -> None:
    meta = get_meta(Worker)
    assert sorted(meta.list_endpoints()) == ["generate", "price", "stats"]
    gen = meta.get_endpoint("generate")
    assert gen.streaming and gen.method == "generate" and gen.request_param == "prompt"
    assert gen.description == "Stream tokens for a prompt."
    stats = meta.get_endpoint("stats")
    assert (stats.method, stats.streaming, stats.idempotent) == ("get_stats", False, True)
    assert stats.request_param is None and stats.request_type is type(None)
    assert stats.description == "Counters so far"
    assert meta.has_endpoint("price") and not meta.has_endpoint("get_stats")
    assert meta.name == "Worker" and meta.namespace == "llm"


def test_get_endpoint_unknown_names_the_endpoints() -> None:
    with pytest.raises(MarkupError) as info:
        get_meta(Worker).get_endpoint("generat")
    msg = str(info.value)
    assert msg.startswith("Worker: no endpoint 'generat'; endpoints: generate, stats, price")
    assert "did you mean 'generate'?" in msg


def test_sync_endpoint_fails_at_decoration() -> None:
    with pytest.raises(MarkupError) as info:

        class Bad:
            @endpoint()
            def run(self, r: Req) -> Req:
                return r

    msg = str(info.value)
    assert "Bad.run: @endpoint needs an 'async def' method" in msg
    assert "this is a plain function" in msg
    assert "fix: write 'async def run(...)'" in msg


def test_endpoint_without_parentheses() -> None:
    with pytest.raises(MarkupError, match=r"Bad.run: use @endpoint\(\) with parentheses"):

        class Bad:
            @endpoint  # type: ignore[arg-type]
            async def run(self) -> None:  # type: ignore[misc]
                pass


def test_endpoint_on_a_staticmethod() -> None:
    with pytest.raises(MarkupError, match=r"@endpoint must decorate an instance method"):

        class Bad:
            @endpoint()
            @staticmethod
            async def run() -> None:
                pass


def test_endpoint_on_something_that_cannot_carry_markup() -> None:
    async def original(self: Any) -> None:
        pass

    class Slotted:
        __slots__ = ()

        async def __call__(self, x: Any) -> None:
            pass

    with pytest.raises(MarkupError) as info:
        endpoint()(Slotted())  # async __call__, but not a coroutine function itself
    assert "@endpoint needs an 'async def' method" in str(info.value)

    class Holder:
        async def run(self) -> None:
            pass

    with pytest.raises(MarkupError) as info:
        endpoint()(Holder().run)  # a bound method cannot take attributes
    assert "cannot carry Reverie markup; decorate a plain 'async def' method" in str(info.value)
    assert endpoint()(original) is original


def test_duplicate_endpoint_names() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @endpoint(name="run")
            async def a(self) -> None:
                pass

            @endpoint()
            async def run(self) -> None:
                pass

    msg = str(info.value)
    assert "Bad: two methods declare endpoint 'run': a and run" in msg
    assert "fix: give one of them @endpoint(name=...)" in msg


def test_endpoint_with_several_arguments_takes_keywords() -> None:
    @service
    class Fine:
        @endpoint()
        async def run(self, a: int, b: int = 2) -> None:
            pass

    ep = get_meta(Fine).endpoints["run"]
    assert ep.keywords and [p.name for p in ep.params] == ["a", "b"]


def test_endpoint_request_must_not_be_keyword_only() -> None:
    with pytest.raises(MarkupError, match=r"Bad.run: the request argument r must not be keyword"):

        @service
        class Bad:
            @endpoint()
            async def run(self, *, r: Req) -> None:
                pass


@pytest.mark.parametrize(("sig", "shown"), [("*args", "*args"), ("**kw", "**kw")])
def test_endpoint_rejects_star_args(sig: str, shown: str) -> None:
    ns: dict[str, Any] = {"endpoint": endpoint, "service": service}
    code = f"@service\nclass Bad:\n    @endpoint()\n    async def run(self, {sig}): pass\n"
    with pytest.raises(MarkupError) as info:
        exec(code, ns)
    assert f"Bad.run: parameter {shown} is not supported; declare each parameter by name" in (
        str(info.value)
    )


def test_endpoint_needs_self() -> None:
    with pytest.raises(MarkupError, match=r"Bad.run: must be an instance method whose first"):

        @service
        class Bad:
            @endpoint()
            async def run() -> None:  # type: ignore[misc]
                pass


def test_endpoint_with_unsupported_request_type() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @endpoint()
            async def run(self, r: lambda_type) -> None:  # type: ignore[valid-type]
                pass

    msg = str(info.value)
    assert msg.startswith("Bad.run: request type of r: type <function lambda_type")
    assert "use a pydantic model, dataclass, TypedDict, msgspec Struct or builtin type" in msg


def test_endpoint_with_unsupported_response_type() -> None:
    with pytest.raises(MarkupError, match=r"Bad.run: response type: type .* is not supported"):

        @service
        class Bad:
            @endpoint()
            async def run(self) -> lambda_type:  # type: ignore[valid-type]
                pass


def test_endpoint_with_unresolvable_annotation() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @endpoint()
            async def run(self, r: "Nope") -> None:  # type: ignore[name-defined]  # noqa: F821
                pass

    assert str(info.value).startswith("Bad.run: cannot resolve an annotation: name 'Nope'")


def test_async_generator_with_a_non_iterator_return_annotation() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @endpoint()
            async def run(self) -> int:  # type: ignore[misc]
                yield 1

    msg = str(info.value)
    assert "Bad.run: is an async generator but its return annotation is <class 'int'>" in msg
    assert "fix: annotate it as AsyncIterator[ItemType]" in msg


def test_coroutine_annotated_as_an_iterator_is_not_streaming() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @endpoint()
            async def run(self) -> AsyncIterator[int]:
                return _agen()

    msg = str(info.value)
    assert "Bad.run: is annotated to return an async iterator but never yields" in msg
    assert "fix: make it an async generator ('yield' items)" in msg


async def _agen() -> AsyncIterator[int]:
    yield 1


def test_unannotated_endpoint_is_any_to_any() -> None:
    @service
    class Loose:
        @endpoint()
        async def run(self, x):
            return x

        @endpoint()
        async def stream(self):
            yield 1

    ep = get_meta(Loose).get_endpoint("run")
    assert ep.request_type is Any and ep.response_type is Any
    assert get_meta(Loose).get_endpoint("stream").streaming


# -- @feature and @api ------------------------------------------------------------------------


def test_features_record_params_and_sources() -> None:
    feats = {f.method: f for f in get_meta(Worker).features}
    get_item = feats["get_item"]
    assert (get_item.verb, get_item.pattern) == ("GET", "items/{item_id}")
    assert get_item.access == "public"
    assert get_item.description == "Fetch one item"
    assert [(p.name, p.source, p.required) for p in get_item.params] == [
        ("item_id", "path", True),
        ("verbose", "query", False),
    ]
    put_item = feats["put_item"]
    assert [(p.name, p.source) for p in put_item.params] == [
        ("item_id", "path"),
        ("item", "body"),
        ("ctx", "context"),
    ]
    assert put_item.access == "internal"
    files = feats["files"]
    assert [(p.name, p.source) for p in files.params] == [("suffix", "suffix"), ("kind", "path")]
    assert feats["events"].streaming
    assert feats["ping"].verb == "*" and feats["ping"].access == "private"
    echo = feats["echo"]
    assert (echo.verb, echo.pattern) == ("POST", "echo")
    # Most specific first: constants before parameters, catch-alls last.
    assert [f.method for f in get_meta(Worker).features][-1] == "files"


def test_api_with_options() -> None:
    @service
    class S:
        @api(access="internal", description="Reset it")
        async def reset(self) -> None:
            pass

    (feat,) = get_meta(S).features
    assert (str(feat.verb_path), feat.access) == ("POST:reset", "internal")
    assert feat.description == "Reset it"


def test_feature_pattern_syntax_error_is_a_markup_error() -> None:
    with pytest.raises(MarkupError, match=r"feature pattern 'items' has no verb"):
        feature("items")


def test_feature_access_must_be_known() -> None:
    with pytest.raises(MarkupError) as info:
        feature("GET:x", access="publik")
    msg = str(info.value)
    assert "@feature('GET:x'): access 'publik' is not one of public, internal, private" in msg
    assert "did you mean 'public'?" in msg


def test_sync_feature_fails_at_decoration() -> None:
    with pytest.raises(MarkupError, match=r"Bad.get: @feature\('GET:x'\) needs an 'async def'"):

        class Bad:
            @feature("GET:x")
            def get(self) -> None:
                pass


def test_feature_path_param_needs_a_method_parameter() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @feature("GET:items/{item_id}")
            async def get(self, id: int) -> None:
                pass

    msg = str(info.value)
    assert "Bad.get: pattern GET:items/{item_id} names {item_id} but the method has no " in msg
    assert "parameter 'item_id'" in msg
    assert "fix: add a parameter 'item_id: str'" in msg


def test_optional_path_param_needs_a_default() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @feature("GET:items/{page}?")
            async def get(self, page: int) -> None:
                pass

    msg = str(info.value)
    assert "Bad.get: path parameter {page} is optional in GET:items/{page}?, so parameter " in msg
    assert "fix: write 'page: ... = None'" in msg


def test_feature_takes_one_body_parameter() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @feature("POST:x")
            async def post(self, a: Req, b: Other) -> None:
                pass

    msg = str(info.value)
    assert "Bad.post: parameters a, b would all come from the request body" in msg
    assert "fix: wrap them in one model" in msg


def test_feature_body_on_a_get() -> None:
    with pytest.raises(MarkupError) as info:

        @service
        class Bad:
            @feature("GET:x")
            async def get(self, r: Req) -> None:
                pass

    msg = str(info.value)
    assert "Bad.get: parameter 'r' has a structured type and would come from the body, but GET" in (
        msg
    )
    assert "fix: use scalar query parameters, or bind POST/PUT/PATCH" in msg


def test_feature_with_unsupported_parameter_type() -> None:
    with pytest.raises(MarkupError, match=r"Bad.get: parameter q: type .* is not supported"):

        @service
        class Bad:
            @feature("GET:x")
            async def get(self, q: lambda_type) -> None:  # type: ignore[valid-type]
                pass


def test_two_methods_with_one_pattern() -> None:
    with pytest.raises(MarkupError, match=r"Bad: two methods bind GET:x: a and b"):

        @service
        class Bad:
            @feature("GET:x")
            async def a(self) -> None:
                pass

            @feature("GET:x")
            async def b(self) -> None:
                pass


def test_scalar_collections_and_literals_come_from_the_query() -> None:
    from typing import Literal

    @service
    class S:
        @feature("GET:search")
        async def search(
            self,
            tags: list[str],
            mode: Literal["a", "b"] = "a",
            n: int | None = None,
            x: Any = 1,
        ) -> None:
            pass

    (feat,) = get_meta(S).features
    assert {p.name: p.source for p in feat.params} == {
        "tags": "query",
        "mode": "query",
        "n": "query",
        "x": "query",
    }


def test_one_method_can_be_an_endpoint_and_a_feature() -> None:
    @service
    class S:
        @endpoint()
        @feature("POST:do")
        async def run(self, r: Req) -> Req:
            return r

    meta = get_meta(S)
    assert meta.list_endpoints() == ["run"] and [f.method for f in meta.features] == ["run"]


# -- hooks and lookups ------------------------------------------------------------------------


def test_lifecycle_hooks_are_recorded() -> None:
    @service
    class S:
        @on_start
        async def a(self) -> None:
            pass

        @on_shutdown
        def b(self) -> None:
            pass

        @on_config
        async def c(self) -> None:
            pass

    assert get_meta(S).hooks == {"on_start": ["a"], "on_shutdown": ["b"], "on_config": ["c"]}
    assert on_start.__name__ == "on_start"


def test_hook_must_decorate_a_callable() -> None:
    with pytest.raises(MarkupError, match=r"@on_start must decorate a method"):
        on_start(3)  # type: ignore[type-var]


def test_get_meta_of_a_plain_class_and_of_an_instance() -> None:
    class Plain:
        pass

    with pytest.raises(MarkupError) as info:
        get_meta(Plain)
    msg = str(info.value)
    assert "is not a service (fix: decorate the class with @reverie.service(...))" in msg
    assert get_meta(Cache()) is get_meta(Cache)
    assert not is_service(Plain) and not is_service(Cache())


def test_undecorated_subclass_is_not_a_service() -> None:
    class Sub(Cache):
        pass

    assert not is_service(Sub)
    with pytest.raises(MarkupError, match=r"is not a service"):
        get_meta(Sub)


def test_request_context_parameter_is_not_a_query_param() -> None:
    @service
    class S:
        @feature("GET:x")
        async def get(self, ctx: RequestContext, q: str = "") -> str:
            return q

    (feat,) = get_meta(S).features
    assert [(p.name, p.source) for p in feat.params] == [("ctx", "context"), ("q", "query")]


def test_uri_typed_optional_key_is_marked() -> None:
    @service
    class S:
        feed: URI | None = config(None)

    assert get_meta(S).config_keys["feed"].uri


@pytest.mark.parametrize("name", ["", "a b", "a.b", "a/b", "a:b", 3])
def test_endpoint_name_must_be_subject_safe(name: Any) -> None:
    with pytest.raises(MarkupError) as info:
        endpoint(name=name)
    assert f"@endpoint(name={name!r}): an endpoint name must be non-empty and contain only" in (
        str(info.value)
    )
