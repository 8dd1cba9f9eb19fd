"""The direct plane's TCP address as a deployment setting: ``nodes.<node>.direct_host``,
``reverie serve --direct-host``, ``$REVERIE_DIRECT_HOST``, loopback; each value says which
layer set it, and a wildcard, a malformed address or one this machine lacks fails before
start naming the setting and the fix."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reverie._private.config.deployment import parse_deployment
from reverie._private.config.directhost import resolve_direct_host
from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.natsserver import NatsServer
from reverie.errors import ConfigError, DeploymentError

from .conftest import GRAPH, reverie

NODES = """\
nodes:
  web: {default: true}
  gpu-a: {services: [Store], direct_host: 127.0.0.2}
"""

FIX = (
    "give the address the other machines reach this one at: an IP address or host name, no "
    "port (10.0.0.2, node-a.internal), or 127.0.0.1 when every process runs on one machine"
)


def _write(tmp_path: Path, text: str = NODES) -> str:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("'0.0.0.0'", "'0.0.0.0' is a wildcard: callers need the address they reach"),
        ("'::'", "'::' is a wildcard"),
        ("'*'", "'*' is a wildcard"),
        ("10.0.0.2:7000", "'10.0.0.2:7000' is not an IP address or host name (no port"),
        ("tcp://10.0.0.2", "'tcp://10.0.0.2' is not an IP address or host name"),
        ("7", "must be an IP address or host name, got 7"),
    ],
)
def test_a_bad_node_address_fails_at_parse(value: str, words: str) -> None:
    text = f"nodes:\n  web: {{default: true}}\n  gpu-a:\n    direct_host: {value}\n"
    with pytest.raises(DeploymentError) as info:
        parse_deployment(text, "d.yaml")
    assert info.value.line == 4
    assert str(info.value).startswith("nodes.gpu-a.direct_host (from d.yaml:4): the direct plane")
    assert words in str(info.value)
    assert str(info.value).endswith(f"(fix: {FIX})")


def test_layers_cli_file_env_default() -> None:
    dep = parse_deployment(NODES, "d.yaml")
    env = {"REVERIE_DIRECT_HOST": "127.0.0.3"}
    assert resolve_direct_host("127.0.0.9", dep, "gpu-a", env)[:2] == ("127.0.0.9", "--direct-host")
    assert resolve_direct_host(None, dep, "gpu-a", env)[:2] == (
        "127.0.0.2",
        "d.yaml:3 (nodes.gpu-a.direct_host)",
    )
    from_env = ("127.0.0.3", "env REVERIE_DIRECT_HOST")
    assert resolve_direct_host(None, dep, "web", env)[:2] == from_env  # web sets none
    # without --node every node's share runs here, so no node's address applies
    assert resolve_direct_host(None, dep, None, env)[:2] == from_env
    assert resolve_direct_host(None, dep, None, {})[:2] == ("127.0.0.1", "default")
    with pytest.raises(ConfigError) as info:
        resolve_direct_host(None, None, None, {"REVERIE_DIRECT_HOST": "0.0.0.0"})
    assert str(info.value).startswith(
        "$REVERIE_DIRECT_HOST: the direct plane's TCP address '0.0.0.0' is a wildcard"
    )


def test_dry_run_says_which_layer_set_it(tmp_path: Path) -> None:
    path = _write(tmp_path)

    def plan(*args: str, env: dict[str, str] | None = None) -> Any:
        res = reverie("serve", GRAPH, "--dry-run", "--json", "-f", path, *args, env=env)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)["direct_host"]

    assert plan("--node", "gpu-a") == {
        "value": "127.0.0.2",
        "source": f"{path}:3 (nodes.gpu-a.direct_host)",
    }
    assert plan("--node", "gpu-a", "--direct-host", "127.0.0.4") == {
        "value": "127.0.0.4",
        "source": "--direct-host",
    }
    env = {"REVERIE_DIRECT_HOST": "127.0.0.5"}
    assert plan("--node", "web", env=env) == {
        "value": "127.0.0.5",
        "source": "env REVERIE_DIRECT_HOST",
    }
    res = reverie("serve", GRAPH, "--dry-run", "-f", path, "--node", "gpu-a")
    assert "direct calls: Unix sockets on this machine, TCP on 127.0.0.2 (from " in res.stdout


def test_bad_values_exit_2_before_start(tmp_path: Path) -> None:
    res = reverie("serve", GRAPH, "--processes", "--direct-host", "0.0.0.0")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == (
        "error: --direct-host: the direct plane's TCP address '0.0.0.0' is a wildcard: callers "
        f"need the address they reach this process at (fix: {FIX})\n"
    )
    res = reverie("serve", GRAPH, "--processes", env={"REVERIE_DIRECT_HOST": "a b"})
    assert res.returncode == 2
    assert res.stderr.startswith("error: $REVERIE_DIRECT_HOST: the direct plane's TCP address")
    # an address this machine lacks (TEST-NET-1: binding it sends nothing anywhere)
    res = reverie("serve", GRAPH, "--processes", "--direct-host", "192.0.2.1")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith(
        "error: --direct-host: cannot listen for direct calls on '192.0.2.1': "
    )
    assert "(this machine has no such address)" in res.stderr
    assert res.stderr.endswith(", or REVERIE_DIRECT=0 to call over NATS only)\n")


async def _registrations(url: str) -> list[dict[str, Any]]:
    rt = await DistributedRuntime.connect(url, direct=False)
    try:
        return await rt.registrations()
    finally:
        await rt.close()


def test_two_machines_call_over_the_file_s_tcp_address(serve: Any, tmp_path: Path) -> None:
    """gpu-a's processes listen on the file's address; web, a different "machine" (another
    host id, so no Unix socket), calls Store there over TCP, not over NATS."""
    path = _write(tmp_path)
    server = NatsServer().start_sync()
    try:
        gpu = serve(
            GRAPH, "-f", path, "--node", "gpu-a", "--nats", server.url,
            env={"REVERIE_HOST_ID": "machine-gpu-a"},
        )  # fmt: skip
        web = serve(
            GRAPH, "-f", path, "--node", "web", "--nats", server.url,
            env={"REVERIE_HOST_ID": "machine-web"},
        )  # fmt: skip
        store_pid = gpu.rows()["Store"]["pids"][0]
        web.rows()
        regs = asyncio.run(_registrations(server.url))
        tcp = {r["component"]: r["direct"]["tcp"][0] for r in regs}
        assert tcp["Store"] == "127.0.0.2" and tcp["Api"] == "127.0.0.1"
        with urllib.request.urlopen(f"{web.url}/Api/pids", timeout=10) as resp:
            assert json.loads(resp.read())["store"] == store_pid
        assert not [line for line in web.lines if "cannot be reached directly" in line]
    finally:
        server.stop_sync()
        server.cleanup()
