"""Layered config resolution: precedence, provenance, validation per layer, secrets."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import pydantic
import pytest

from reverie import config, get_meta, service
from reverie._private.config.deployment import Deployment, parse_deployment
from reverie._private.config.render import format_config
from reverie._private.config.resolve import (
    ResolvedConfig,
    ResolvedValue,
    resolve_config,
    resolve_graph_config,
)
from reverie._private.config.service_args import resolve_service_args
from reverie._private.config.values import env_var_name
from reverie._private.declare.service import ServiceMeta
from reverie.errors import ConfigError, DeploymentError
from tests.svc_config_graph import Atom, Frontend, Worker


@dataclasses.dataclass
class Window:
    start: int
    end: int


class Limits(pydantic.BaseModel):
    rps: int
    burst: int = 10


@service
class Typed:
    """One key per kind of type."""

    window: Window = config(Window(0, 1))
    limits: Limits = config(Limits(rps=1))
    maybe: int | None = config(None)
    pin: int = config(1234, secret=True)


@service(config={"port": "eighty"})
class BadDecorator:
    port: int = config(80)


@service
class BadDefault:
    port: int = config("eighty")


def dep(text: str) -> Deployment:
    return parse_deployment(textwrap.dedent(text), "deploy.yaml")


def meta(cls: type) -> ServiceMeta:
    return get_meta(cls)


def resolve(
    cls: type, text: str | None = None, env: dict[str, str] | None = None, **kw: Any
) -> ResolvedConfig:
    return resolve_config(
        meta(cls), deployment=dep(text) if text is not None else None, env=env or {}, **kw
    )


def error(
    cls: type, text: str | None = None, env: dict[str, str] | None = None, **kw: Any
) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        resolve(cls, text, env, **kw)
    return info.value


MODEL = {"REVERIE_WORKER__MODEL_PATH": "/env/model"}


# -- env var naming ------------------------------------------------------------------------------


def test_env_var_name() -> None:
    assert env_var_name("Worker", "model_path") == "REVERIE_WORKER__MODEL_PATH"
    assert env_var_name("AtomService", "feed.uri") == "REVERIE_ATOMSERVICE__FEED_URI"
    assert env_var_name("my-svc", "a.b-c") == "REVERIE_MY_SVC__A_B_C"


# -- precedence ----------------------------------------------------------------------------------


def test_class_defaults_and_decorator_layer() -> None:
    rc = resolve(Frontend)
    assert rc.service == "Frontend"
    assert rc["port"] == ResolvedValue("port", 9000, "@service(config=...)", False, "port")
    assert rc["greeting"].source == "class default"
    assert rc.as_dict() == {"port": 9000, "greeting": "hello"}


def test_env_beats_decorator() -> None:
    rc = resolve(Frontend, env={"REVERIE_FRONTEND__PORT": "9100"})
    assert rc["port"].value == 9100
    assert rc["port"].source == "env REVERIE_FRONTEND__PORT"


def test_file_beats_env() -> None:
    rc = resolve(Frontend, "Frontend:\n  port: 9200\n", {"REVERIE_FRONTEND__PORT": "9100"})
    assert rc["port"].value == 9200
    assert rc["port"].source == "deploy.yaml:2"


def test_overrides_beat_everything_and_accept_attribute_names() -> None:
    rc = resolve(
        Atom,
        "AtomService:\n  feed.uri: http://file\n",
        {"REVERIE_ATOMSERVICE__FEED_URI": "http://env"},
        overrides={"feed_uri": "http://code"},
        overrides_source="run_graph(config=...)",
    )
    assert rc["feed.uri"].value == "http://code"
    assert rc["feed.uri"].source == "run_graph(config=...)"
    assert rc["feed.uri"].attr == "feed_uri"
    assert rc.by_attr()["feed_uri"] == "http://code"


def test_section_beats_common_and_common_beats_env() -> None:
    text = """\
        Common:
          model_path: /common
        Worker:
          model_path: /worker
    """
    rc = resolve(Worker, text, MODEL)
    assert (rc["model_path"].value, rc["model_path"].source) == ("/worker", "deploy.yaml:4")
    rc = resolve(Atom, text, {"REVERIE_ATOMSERVICE__MODEL_PATH": "/env"})
    assert rc["model_path"].value == "/common"
    assert rc["model_path"].source == "deploy.yaml:2 (Common)"


def test_other_sections_do_not_leak() -> None:
    rc = resolve(Atom, "Worker:\n  model_path: /worker\n")
    assert rc["model_path"].source == "class default"


# -- env parsing ---------------------------------------------------------------------------------


def test_env_values_parsed_leniently() -> None:
    rc = resolve(
        Worker,
        env={
            **MODEL,
            "REVERIE_WORKER__BATCH": "32",
            "REVERIE_WORKER__TEMPERATURE": "0.25",
            "REVERIE_WORKER__VERBOSE": "true",
            "REVERIE_WORKER__TAGS": '["a", "b"]',
            "REVERIE_WORKER__LIMITS": '{"acme": 5}',
        },
    )
    assert rc.as_dict() == {
        "model_path": "/env/model",
        "batch": 32,
        "temperature": 0.25,
        "tags": ["a", "b"],
        "limits": {"acme": 5},
        "token": "",
        "verbose": True,
    }


def test_env_models_and_optional() -> None:
    rc = resolve(
        Typed,
        env={
            "REVERIE_TYPED__WINDOW": '{"start": 1, "end": 2}',
            "REVERIE_TYPED__LIMITS": '{"rps": 7}',
            "REVERIE_TYPED__MAYBE": "3",
        },
    )
    assert rc["window"].value == Window(1, 2)
    assert rc["limits"].value == Limits(rps=7)
    assert rc["maybe"].value == 3


def test_env_bad_value_names_service_key_var_type_value() -> None:
    err = error(Worker, env={**MODEL, "REVERIE_WORKER__BATCH": "lots"})
    assert str(err).startswith(
        "Worker.batch (from env REVERIE_WORKER__BATCH): expected int, got str 'lots'"
    )
    assert (err.service, err.key, err.source) == ("Worker", "batch", "env REVERIE_WORKER__BATCH")
    assert (err.expected, err.value) == ("int", "lots")
    assert "(fix: set REVERIE_WORKER__BATCH to a valid int)" in str(err)


def test_env_bad_json() -> None:
    err = error(Worker, env={**MODEL, "REVERIE_WORKER__TAGS": "[a, b"})
    assert "expected list[str], got str '[a, b'" in str(err)
    assert "does not parse as JSON" in str(err)
    err = error(Typed, env={"REVERIE_TYPED__WINDOW": "1-2"})
    assert "lists, mappings and models are written as JSON" in str(err)


def test_env_json_of_wrong_shape_names_the_item() -> None:
    err = error(Worker, env={**MODEL, "REVERIE_WORKER__TAGS": "[1, 2]"})
    assert "expected list[str]" in str(err)
    assert "(at [0]: expected str, got int 1)" in str(err)


def test_env_typo_did_you_mean() -> None:
    err = error(Worker, env={**MODEL, "REVERIE_WORKER__BATHC": "3"})
    msg = str(err)
    assert "environment variable REVERIE_WORKER__BATHC matches no config key of Worker" in msg
    assert "did you mean 'REVERIE_WORKER__BATCH'?" in msg


def test_env_for_other_services_ignored() -> None:
    rc = resolve(Frontend, env={"REVERIE_WORKER__NOPE": "1", "REVERIE_FRONTENDX__PORT": "1"})
    assert rc["port"].value == 9000


# -- file values ---------------------------------------------------------------------------------


def test_file_values_validated_strictly() -> None:
    err = error(Frontend, 'Frontend:\n  port: "8000"\n')
    assert isinstance(err, DeploymentError)
    assert str(err).startswith("Frontend.port (from deploy.yaml:2): expected int, got str '8000'")
    assert (err.service, err.key, err.file, err.line) == ("Frontend", "port", "deploy.yaml", 2)


def test_unquoted_scalar_for_a_str_key_is_taken_as_written() -> None:
    rc = resolve(Frontend, "Frontend:\n  greeting: 8000\n")
    assert rc["greeting"].value == "8000"
    rc = resolve(Frontend, "Frontend:\n  greeting: yes\n")
    assert rc["greeting"].value == "yes"
    rc = resolve(Frontend, "Frontend:\n  greeting: 1.10\n")
    assert rc["greeting"].value == "1.10"  # the text, not str(1.1)


def test_file_structured_values() -> None:
    rc = resolve(Typed, "Typed:\n  window: {start: 3, end: 4}\n  limits: {rps: 2, burst: 3}\n")
    assert rc["window"].value == Window(3, 4)
    assert rc["limits"].value == Limits(rps=2, burst=3)


def test_file_bad_structured_value() -> None:
    err = error(Typed, "Typed:\n  window: {start: 3}\n")
    assert "Typed.window (from deploy.yaml:2): expected Window" in str(err)


def test_unknown_key_in_section_during_resolution() -> None:
    err = error(Frontend, "Frontend:\n  prot: 1\n")
    assert isinstance(err, DeploymentError)
    assert (
        "Frontend.prot (from deploy.yaml:2): unknown config key 'prot'; did you mean 'port'?"
        in str(err)
    )


# -- other layers' errors --------------------------------------------------------------------------


def test_decorator_value_of_wrong_type() -> None:
    err = error(BadDecorator)
    assert str(err) == (
        "BadDecorator.port (from @service(config=...)): expected int, got str 'eighty'"
    )


def test_class_default_of_wrong_type() -> None:
    err = error(BadDefault)
    assert str(err).startswith(
        "BadDefault.port (from class default): expected int, got str 'eighty'"
    )
    assert "fix the default in config(...)" in str(err)
    # a higher layer hides the bad default
    assert resolve(BadDefault, env={"REVERIE_BADDEFAULT__PORT": "80"})["port"].value == 80


def test_override_of_wrong_type_and_unknown_override() -> None:
    err = error(Frontend, overrides={"port": "x"}, overrides_source="run_graph(config=...)")
    assert str(err) == "Frontend.port (from run_graph(config=...)): expected int, got str 'x'"
    err = error(Frontend, overrides={"prot": 1}, overrides_source="run_graph(config=...)")
    assert str(err) == (
        "Frontend.prot (from run_graph(config=...)): unknown config key; did you mean 'port'?; "
        "Frontend declares port, greeting"
    )


def test_required_key_unset_says_how_to_set_it() -> None:
    err = error(Worker)
    assert str(err) == (
        "Worker.model_path: required config key is not set in any layer (fix: set it in the "
        "deployment file ('Worker:' then '  model_path: ...'), or with the environment "
        "variable REVERIE_WORKER__MODEL_PATH)"
    )
    assert (err.service, err.key) == ("Worker", "model_path")


def test_all_problems_of_a_service_in_one_error() -> None:
    err = error(Worker, "Worker:\n  batch: x\n", {"REVERIE_WORKER__VERBOSE": "maybe"})
    msg = str(err)
    assert msg.startswith("3 config problems in Worker:\n  - ")
    assert err.service == "Worker"
    assert "JSON" not in msg  # no JSON hint for a bool
    assert "Worker.model_path: required config key is not set" in msg
    assert "Worker.batch (from deploy.yaml:2): expected int, got str 'x'" in msg
    assert (
        "Worker.verbose (from env REVERIE_WORKER__VERBOSE): expected bool, got str 'maybe'" in msg
    )


# -- secrets -------------------------------------------------------------------------------------


def test_secrets_masked_in_display_repr_and_errors() -> None:
    rc = resolve(Worker, "Worker:\n  token: hunter2\n", MODEL)
    assert rc["token"].value == "hunter2"
    assert rc["token"].display() == "****"
    assert "hunter2" not in repr(rc)
    assert "hunter2" not in format_config(rc)
    err = error(Typed, env={"REVERIE_TYPED__PIN": "12x4"})
    assert "expected int, got str '****'" in str(err)
    assert "12x4" not in str(err) and err.value == "****"
    err = error(Typed, "Typed:\n  pin: [9876]\n")
    assert "9876" not in str(err)


# -- results -------------------------------------------------------------------------------------


def test_resolved_config_is_a_mapping() -> None:
    rc = resolve(Frontend)
    assert list(rc) == ["port", "greeting"] and len(rc) == 2
    assert isinstance(rc["port"], ResolvedValue)
    assert rc.as_dict() == {"port": 9000, "greeting": "hello"}
    assert [v.value for v in rc.values()] == [9000, "hello"]  # Mapping.values: ResolvedValues
    assert rc.sources() == {"port": "@service(config=...)", "greeting": "class default"}
    assert "port" in rc and "nope" not in rc


def test_value_display_is_one_short_line() -> None:
    rv = ResolvedValue("k", "x" * 200, "code")
    assert len(rv.display()) == 80 and rv.display().endswith("...")
    assert ResolvedValue("k", "a\nb", "code").display() == "a\\nb"
    assert ResolvedValue("k", [1, 2], "code").display() == "[1, 2]"


def test_graph_resolution_collects_every_service() -> None:
    metas = [meta(Frontend), meta(Worker), meta(Atom)]
    out = resolve_graph_config(
        metas,
        env=MODEL,
        overrides={"Frontend": {"port": 1}},
        overrides_source="test",
    )
    assert list(out) == ["Frontend", "Worker", "AtomService"]
    assert out["Frontend"]["port"].source == "test"
    with pytest.raises(ConfigError) as info:
        resolve_graph_config(metas, env={}, overrides={"Frontnd": {}}, overrides_source="test")
    msg = str(info.value)
    assert msg.startswith("2 config problems in the graph:")
    assert (
        "config overrides name service 'Frontnd', which is not in the graph; did you mean "
        "'Frontend'?" in msg
    )
    assert "Worker.model_path: required config key" in msg


# -- ServiceArgs ---------------------------------------------------------------------------------


def test_service_args_defaults_from_decorator() -> None:
    args = resolve_service_args(meta(Worker), None)
    assert (args.workers.value, args.workers.source) == (2, "@service default")
    assert {k: v.value for k, v in args.resources.items()} == {"gpu": 1, "cpu": 2}
    assert (args.namespace.value, args.name.value) == ("default", "Worker")
    assert args.env == {} and args.process is None
    assert resolve_service_args(meta(Atom), None).namespace.value == "feeds"


def test_service_args_from_file_merge_per_key() -> None:
    d = dep("""\
        Worker:
          ServiceArgs:
            workers: 4
            resources: {cpu: 8, memory: 16Gi}
            env: {HF_HOME: /tmp/hf, HF_TOKEN: abc}
            process: shared
          runtime: {namespace: prod}
    """)
    args = resolve_service_args(meta(Worker), d)
    assert (args.workers.value, args.workers.source) == (4, "deploy.yaml:3")
    assert {k: (v.value, v.source) for k, v in args.resources.items()} == {
        "gpu": (1, "@service default"),
        "cpu": (8, "deploy.yaml:4"),
        "memory": ("16Gi", "deploy.yaml:4"),
    }
    assert (args.namespace.value, args.namespace.source) == ("prod", "deploy.yaml:7")
    assert (args.name.value, args.name.source) == ("Worker", "@service default")
    assert args.process is not None and args.process.value == "shared"
    text = format_config([resolve(Worker, None, MODEL)], [args])
    assert "Worker: ServiceArgs" in text
    assert "env.HF_HOME" in text and "/tmp/hf" in text
    assert "abc" not in text  # HF_TOKEN looks secret


def test_format_config_text() -> None:
    rc = resolve(Worker, "Worker:\n  token: hunter2\n", MODEL)
    text = format_config(rc, resolve_service_args(meta(Worker), None))
    assert "Worker: config" in text
    for part in (
        "model_path",
        "/env/model",
        "env REVERIE_WORKER__MODEL_PATH",
        "token",
        "****",
        "deploy.yaml:2",
        "class default",
        "list[str]" if False else "tags",
    ):
        assert part in text
    assert "\x1b[" not in text  # plain text, no colour codes
    empty = format_config(resolve_config(meta(Typed), env={}).__class__("Empty", {}))
    assert "(no config keys)" in empty
