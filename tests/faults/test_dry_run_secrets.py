"""Item 11: ``--dry-run`` never prints a credential; env values may refer to the supervisor's
own environment (``${VAR}``), so the deployment file need not hold the secret."""

from __future__ import annotations

import json
from pathlib import Path

from tests.serve.conftest import GRAPH, reverie

DEPLOY = """\
Store:
  ServiceArgs:
    workers: 2
    env:
      API_TOKEN: abc123
      DB_PASSWORD: "${SV_TEST_DB_PASSWORD}"
      PLAIN: hello
      LITERAL: "$${NOT_A_REF}"
"""


def _deploy(tmp_path: Path, text: str = DEPLOY) -> str:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    return str(path)


def test_dry_run_masks_credentials_in_text_and_json(tmp_path: Path) -> None:
    dep = _deploy(tmp_path)
    env = {"SV_TEST_DB_PASSWORD": "hunter2-from-env"}
    text = reverie("serve", GRAPH, "-f", dep, "--dry-run", env=env)
    assert text.returncode == 0, text.stderr
    js = reverie("serve", GRAPH, "-f", dep, "--dry-run", "--json", env=env)
    assert js.returncode == 0, js.stderr
    for out in (text.stdout, js.stdout):
        assert "abc123" not in out and "hunter2" not in out
    assert "API_TOKEN='****'" in text.stdout
    assert "DB_PASSWORD='${SV_TEST_DB_PASSWORD}'" in text.stdout
    assert "PLAIN='hello'" in text.stdout
    proc = json.loads(js.stdout)["processes"][0]
    assert proc["env"]["API_TOKEN"] == "****"
    assert proc["env"]["DB_PASSWORD"] == "${SV_TEST_DB_PASSWORD}"
    assert proc["env"]["LITERAL"] == "$${NOT_A_REF}"


def test_a_reference_to_an_unset_variable_fails_before_start(tmp_path: Path) -> None:
    dep = _deploy(tmp_path)
    r = reverie("serve", GRAPH, "-f", dep, "--dry-run", env={"SV_TEST_DB_PASSWORD": ""})
    assert r.returncode == 0  # set, even if empty
    r = reverie("serve", GRAPH, "-f", dep, "--dry-run")
    assert r.returncode == 2
    assert (
        "Store.ServiceArgs.env.DB_PASSWORD (from " in r.stderr
        and "refers to ${SV_TEST_DB_PASSWORD}, which is not set in the environment of reverie serve"
        in r.stderr
    ), r.stderr
    assert "export SV_TEST_DB_PASSWORD=..." in r.stderr


def test_the_worker_gets_the_expanded_value() -> None:
    from reverie._private.config.values import expand_env_refs

    got = expand_env_refs("a-${X}-$${Y}", {"X": "1"}, service="S", key="k", source="f:1")
    assert got == "a-1-${Y}"
