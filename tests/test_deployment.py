"""The deployment file: its shape (load/parse) and its check against a service graph."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from reverie import get_meta
from reverie._private.config.check import check_deployment
from reverie._private.config.deployment import (
    Deployment,
    Sourced,
    load_deployment,
    parse_deployment,
)
from reverie._private.declare.service import ServiceMeta
from reverie.errors import ConfigError, DeploymentError
from tests.svc_config_graph import CACHE_SID, WORKER_SID, Atom, Frontend, Worker

FULL = """\
Common:
  model_path: /models/llama
Frontend:
  port: 8000
  ServiceArgs:
    workers: 1
Worker:
  model_path: /models/x
  ServiceArgs:
    workers: 2
    resources: {gpu: 1, cpu: 4, memory: 8Gi}
    env: {HF_HOME: /tmp/hf, HF_OFFLINE: true}
    process: shared
  runtime: {namespace: demo, name: worker}
bind:
  "sid://example.org/2026/config-cache": tests.svc_config_impl:RedisCache
"""


def parse(text: str) -> Deployment:
    return parse_deployment(textwrap.dedent(text), "deploy.yaml")


def fails(text: str) -> DeploymentError:
    with pytest.raises(DeploymentError) as info:
        parse(text)
    return info.value


def plain(values: dict[str, Sourced]) -> dict[str, Any]:
    return {k: v.value for k, v in values.items()}


def graph() -> dict[str, ServiceMeta]:
    return {m.name: m for m in (get_meta(Frontend), get_meta(Worker), get_meta(Atom))}


SIDS = [WORKER_SID, CACHE_SID]


# -- shape ----------------------------------------------------------------------------------------


def test_full_layout_keeps_values_and_lines() -> None:
    dep = parse_deployment(FULL, "deploy.yaml")
    assert dep.path == "deploy.yaml"
    assert dep.common["model_path"].value == "/models/llama"
    assert dep.common["model_path"].source == "deploy.yaml:2 (Common)"
    assert set(dep.services) == {"Frontend", "Worker"}
    worker = dep.section("Worker")
    assert worker is not None and worker.line == 7
    assert worker.config["model_path"].value == "/models/x"
    assert worker.config["model_path"].source == "deploy.yaml:8"
    assert worker.workers is not None and worker.workers.value == 2
    assert worker.workers.source == "deploy.yaml:10"
    assert plain(worker.resources) == {"gpu": 1, "cpu": 4, "memory": "8Gi"}
    # env values are the text as written: `true` stays "true", not "True"
    assert plain(worker.env) == {"HF_HOME": "/tmp/hf", "HF_OFFLINE": "true"}
    assert worker.process is not None and worker.process.value == "shared"
    assert plain(worker.runtime) == {"namespace": "demo", "name": "worker"}
    assert dep.bind[CACHE_SID].value == "tests.svc_config_impl:RedisCache"
    assert dep.bind[CACHE_SID].source == "deploy.yaml:16"
    assert dep.section("Nobody") is None


def test_empty_file_and_empty_sections() -> None:
    assert parse("").services == {}
    dep = parse("Worker:\nCommon:\nbind:\n")
    worker = dep.section("Worker")
    assert worker is not None and worker.config == {} and worker.workers is None
    assert dep.common == {} and dep.bind == {}


def test_extension_keys_and_merge_keys() -> None:
    dep = parse("""
        x-defaults: &defaults
          batch: 4
        .more: &more
          temperature: 0.1
        Worker:
          <<: [*defaults, *more]
          model_path: /m
    """)
    assert set(dep.services) == {"Worker"}
    worker = dep.section("Worker")
    assert worker is not None
    assert {k: v.value for k, v in worker.config.items()} == {
        "batch": 4,
        "temperature": 0.1,
        "model_path": "/m",
    }


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(FULL)
    dep = load_deployment(path)
    assert dep.path == str(path)
    worker = dep.section("Worker")
    assert worker is not None and worker.config["model_path"].source == f"{path}:8"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError) as info:
        load_deployment(tmp_path / "nope.yaml")
    assert "cannot read the deployment file" in str(info.value)
    assert "nope.yaml" in str(info.value)


def test_yaml_syntax_error_names_line() -> None:
    err = fails("Worker:\n  model_path: [unclosed\n  batch: 2\n")
    assert "invalid YAML" in str(err)
    assert err.file == "deploy.yaml" and err.line is not None
    assert "deploy.yaml:" in str(err)
    assert isinstance(err, ConfigError)


def test_top_level_must_be_a_mapping() -> None:
    err = fails("- Worker\n- Frontend\n")
    assert "top level must be a mapping" in str(err)
    assert "a list" in str(err)
    assert err.line == 1


def test_section_must_be_a_mapping() -> None:
    err = fails("Worker: 3\n")
    assert "section 'Worker' must be a mapping" in str(err)
    assert "deploy.yaml:1" in str(err)


def test_complex_key_rejected() -> None:
    err = fails("? [a, b]\n: 1\n")
    assert "keys in the top level must be plain strings" in str(err)


def test_duplicate_key_names_both_lines() -> None:
    err = fails("Worker:\n  batch: 1\n  batch: 2\n")
    assert "duplicate key 'batch' (first set on line 2)" in str(err)
    assert err.line == 3 and err.key == "Worker.batch"


def test_unknown_service_args_key_did_you_mean() -> None:
    err = fails("Worker:\n  ServiceArgs:\n    worker: 2\n")
    assert "unknown key 'worker'; did you mean 'workers'?" in str(err)
    assert "deploy.yaml:3" in str(err)
    assert err.key == "Worker.ServiceArgs.worker"


@pytest.mark.parametrize("value", ["0", "-1", '"2"', "true", "1.5"])
def test_workers_must_be_positive_int(value: str) -> None:
    err = fails(f"Worker:\n  ServiceArgs:\n    workers: {value}\n")
    assert "workers must be an integer >= 1" in str(err)
    assert "Worker.ServiceArgs.workers (from deploy.yaml:3)" in str(err)


def test_unknown_resource_did_you_mean() -> None:
    err = fails("Worker:\n  ServiceArgs:\n    resources:\n      gpus: 1\n")
    assert "unknown resource 'gpus'; did you mean 'gpu'?" in str(err)
    assert "deploy.yaml:4" in str(err)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("gpu", "-1", "gpu must be a whole number >= 0"),
        ("gpu", "1.5", "gpu must be a whole number >= 0"),
        ("cpu", "0", "cpu must be a number > 0"),
        ("cpu", "lots", "cpu must be a number > 0"),
        ("memory", "8 gigs", "memory must be bytes or a size like '8Gi'"),
        ("memory", "[1]", "memory must be bytes"),
    ],
)
def test_bad_resource_values(key: str, value: str, message: str) -> None:
    err = fails(f"Worker:\n  ServiceArgs:\n    resources:\n      {key}: {value}\n")
    assert message in str(err)
    assert f"Worker.ServiceArgs.resources.{key} (from deploy.yaml:4)" in str(err)


def test_good_resource_values() -> None:
    dep = parse("W:\n  ServiceArgs:\n    resources: {cpu: 500m, gpu: 0.5, memory: 512Mi}\n")
    sec = dep.section("W")
    assert sec is not None
    assert {k: v.value for k, v in sec.resources.items()} == {
        "cpu": "500m",
        "gpu": 0.5,
        "memory": "512Mi",
    }


def test_env_name_and_value_checked() -> None:
    err = fails("W:\n  ServiceArgs:\n    env:\n      BAD-NAME: x\n")
    assert "'BAD-NAME' is not an environment variable name" in str(err)
    err = fails("W:\n  ServiceArgs:\n    env:\n      EMPTY:\n")
    assert "environment values are strings, got nothing (null)" in str(err)
    assert 'quote the value: EMPTY: "..."' in str(err)
    err = fails("W:\n  ServiceArgs:\n    env:\n      LIST: [1, 2]\n")
    assert "environment values are strings, got a list" in str(err)


def test_process_mode_did_you_mean() -> None:
    err = fails("W:\n  ServiceArgs:\n    process: seperate\n")
    assert "process must be one of separate, shared, got 'seperate'" in str(err)
    assert "did you mean 'separate'?" in str(err)


def test_runtime_keys_checked() -> None:
    err = fails("W:\n  runtime:\n    namspace: demo\n")
    assert "unknown key 'namspace'; did you mean 'namespace'?" in str(err)
    err = fails("W:\n  runtime:\n    name: my.worker\n")
    assert "name must be non-empty and contain only letters, digits, '_' and '-'" in str(err)
    assert "W.runtime.name (from deploy.yaml:3)" in str(err)


def test_service_args_misplaced() -> None:
    err = fails("ServiceArgs:\n  workers: 2\n")
    assert "'ServiceArgs' at the top level; it belongs inside a service's section" in str(err)
    err = fails("Common:\n  runtime: {namespace: x}\n")
    assert "Common holds config values only" in str(err)


def test_bind_entries_checked() -> None:
    err = fails("bind:\n  worker: mod:Cls\n")
    assert "bind key 'worker' is not a SID" in str(err)
    err = fails('bind:\n  "sid://x/y": not a class ref\n')
    assert "bind target 'not a class ref' is not 'module:Class'" in str(err)
    assert "deploy.yaml:2" in str(err)


def test_section_wrong_kind_for_service_args() -> None:
    err = fails("W:\n  ServiceArgs: [1, 2]\n")
    assert "W.ServiceArgs must be a mapping" in str(err)
    assert "got a list" in str(err)


# -- check against the graph ----------------------------------------------------------------------


def test_check_accepts_a_good_file() -> None:
    check_deployment(parse_deployment(FULL, "deploy.yaml"), graph(), SIDS)


def test_unknown_section_did_you_mean() -> None:
    dep = parse("Workr:\n  model_path: /m\n")
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    msg = str(info.value)
    assert "section 'Workr' names no service of this graph; did you mean 'Worker'?" in msg
    assert "services: Frontend, Worker, AtomService" in msg
    assert "deploy.yaml:1" in msg


def test_lowercase_common_suggests_common() -> None:
    dep = parse("common:\n  model_path: /m\n")
    with pytest.raises(DeploymentError, match="did you mean 'Common'"):
        check_deployment(dep, graph(), SIDS)


def test_unknown_config_key_did_you_mean() -> None:
    dep = parse("Worker:\n  model_pth: /m\n")
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    msg = str(info.value)
    assert "Worker.model_pth (from deploy.yaml:2)" in msg
    assert "unknown config key 'model_pth'; did you mean 'model_path'?" in msg


def test_external_key_name_is_the_yaml_key() -> None:
    dep = parse("AtomService:\n  feed_uri: http://x\n")
    with pytest.raises(DeploymentError, match=r"did you mean 'feed\.uri'"):
        check_deployment(dep, graph(), SIDS)
    check_deployment(parse("AtomService:\n  feed.uri: http://x\n"), graph(), SIDS)


def test_wrong_type_names_file_line_service_key_type_value() -> None:
    dep = parse("Worker:\n  model_path: /m\n  batch: lots\n")
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    err = info.value
    assert str(err).startswith("Worker.batch (from deploy.yaml:3): expected int, got str 'lots'")
    assert (err.file, err.line, err.service, err.key) == ("deploy.yaml", 3, "Worker", "batch")
    assert (err.expected, err.value) == ("int", "lots")


def test_common_key_nobody_declares() -> None:
    dep = parse("Common:\n  modelpath: /m\n")
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    msg = str(info.value)
    assert "Common sets 'modelpath' but no service of this graph declares it" in msg
    assert "did you mean 'model_path'?" in msg
    assert "Common.modelpath (from deploy.yaml:2)" in msg


def test_common_value_checked_per_service_unless_overridden() -> None:
    dep = parse("Common:\n  model_path: 5\n")
    check_deployment(dep, graph(), SIDS)  # a plain 5 for a str key is taken as "5"
    dep = parse("Common:\n  model_path: [a]\nWorker:\n  model_path: /w\n")
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    # Worker sets its own value, so only AtomService reads the bad Common one
    assert str(info.value).startswith("AtomService.model_path (from deploy.yaml:2): expected str")
    assert "(the value from Common)" in str(info.value)


def test_bind_unknown_sid() -> None:
    dep = parse('bind:\n  "sid://example.org/2026/config-cach": tests.svc_config_impl:RedisCache\n')
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    msg = str(info.value)
    assert "bind names SID 'sid://example.org/2026/config-cach', which no service" in msg
    assert f"did you mean {CACHE_SID!r}?" in msg
    assert "deploy.yaml:2" in msg


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "tests.no_such_module:X",
            "bind target 'tests.no_such_module:X': cannot import module 'tests.no_such_module'",
        ),
        ("tests.svc_config_impl:Nope", "module 'tests.svc_config_impl' has no attribute 'Nope'"),
        (
            "tests.svc_config_impl:NOT_A_SERVICE",
            "not a service class (decorate it with @reverie.service)",
        ),
        (
            "tests.svc_config_impl:NoSid",
            "does not declare sid://example.org/2026/config-cache (it declares: none)",
        ),
        ("tests.svc_config_impl:FastWorker", "(it declares: sid://example.org/2026/config-worker)"),
    ],
)
def test_bind_bad_targets(target: str, message: str) -> None:
    dep = parse(f'bind:\n  "{CACHE_SID}": {target}\n')
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    assert message in str(info.value)
    assert f"bind.{CACHE_SID} (from deploy.yaml:2)" in str(info.value)


def test_bind_target_module_that_fails_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_cfg_mod.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    dep = parse(f'bind:\n  "{CACHE_SID}": broken_cfg_mod:X\n')
    with pytest.raises(DeploymentError, match="failed: RuntimeError: boom at import"):
        check_deployment(dep, graph(), SIDS)


def test_good_bind_passes() -> None:
    dep = parse(f'bind:\n  "{WORKER_SID}": tests.svc_config_impl:FastWorker\n')
    check_deployment(dep, graph(), SIDS)


def test_all_problems_reported_together() -> None:
    dep = parse("Workr:\n  a: 1\nWorker:\n  batch: x\nCommon:\n  nope: 1\n")
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, graph(), SIDS)
    msg = str(info.value)
    assert msg.startswith("3 problems in the deployment file deploy.yaml:\n  - ")
    assert "Workr (from deploy.yaml:1)" in msg
    assert "Worker.batch (from deploy.yaml:4)" in msg
    assert "Common.nope (from deploy.yaml:6)" in msg
    assert info.value.file == "deploy.yaml"


@pytest.mark.parametrize("bad", ["'a b'", "'@host'", "''", "7"])
def test_service_args_path_must_be_a_url_path(bad: str) -> None:
    text = f"Worker:\n  ServiceArgs:\n    path: {bad}\n"
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "deploy.yaml")
    expected = "Worker.ServiceArgs.path (from deploy.yaml:3): path must be a URL path"
    assert expected in str(info.value)
