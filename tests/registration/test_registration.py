"""One registration rule: run_graph, Host.start and reverie serve resolve SIDs the same way
(the entry's module, bind:, --discover directories), and a cycle through SIDs is a cycle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reverie import Host
from reverie.errors import DependencyCycleError, UnknownSIDError
from reverie.testing import run_graph
from tests.registration.beside import CycA, Top
from tests.registration.needs_plugin import Host2

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = Path(__file__).parent / "plugins"


def serve_dry_run(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reverie.cli", "serve", target, "--dry-run", "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_run_graph_resolves_a_sid_implemented_beside_the_entry() -> None:
    async with run_graph(Top) as g:
        assert await g.call("Top", "ping") == "top>leaf"


async def test_host_start_resolves_it_the_same_way() -> None:
    async with Host(env={}) as host:
        await host.start(Top)
        assert await host.client("Top").ping() == "top>leaf"


def test_serve_accepts_the_same_graph() -> None:
    proc = serve_dry_run("tests.registration.beside:Top")
    assert proc.returncode == 0, proc.stderr
    assert {s["name"] for s in json.loads(proc.stdout)["services"]} == {"Top", "Leaf"}


async def test_a_cycle_through_sids_is_reported_as_a_cycle() -> None:
    with pytest.raises(DependencyCycleError, match="CycA -> CycB -> CycA"):
        async with run_graph(CycA):
            pass
    proc = serve_dry_run("tests.registration.beside:CycA")
    assert proc.returncode != 0
    assert "CycA -> CycB -> CycA" in proc.stderr


async def test_a_sid_found_only_by_discovery_fails_everywhere_without_it() -> None:
    with pytest.raises(UnknownSIDError, match=r"sid://reverie\.test/registration/store"):
        async with run_graph(Host2):
            pass
    proc = serve_dry_run("tests.registration.needs_plugin:Host2")
    assert proc.returncode != 0
    assert "sid://reverie.test/registration/store" in proc.stderr


async def test_discover_makes_it_resolve_in_a_host_and_in_serve() -> None:
    async with Host(env={}) as host:
        host.discover(PLUGINS)
        await host.start(Host2)
        assert await host.client("Host2").ping() == "store"
    proc = serve_dry_run("tests.registration.needs_plugin:Host2", "--discover", str(PLUGINS))
    assert proc.returncode == 0, proc.stderr
    assert {s["name"] for s in json.loads(proc.stdout)["services"]} == {"Host2", "Store"}


def test_discover_of_a_missing_directory_names_it() -> None:
    proc = serve_dry_run("tests.registration.needs_plugin:Host2", "--discover", "no/such/dir")
    assert proc.returncode != 0
    assert "--discover no/such/dir: no such directory" in proc.stderr


async def test_host_api_starts_a_second_instance_of_a_running_service_at_another_path() -> None:
    import httpx

    from reverie._private.http.server import HttpServer

    key = "registration-test-key"
    async with Host(env={}) as host:
        await host.start(Top)
        async with (
            HttpServer(host, port=0, api_key=key, access_log=False) as srv,
            httpx.AsyncClient(base_url=srv.url, timeout=30) as http,
        ):
            auth = {"Authorization": f"Bearer {key}"}
            r = await http.post(
                "/@host/services", json={"class": "Leaf", "path": "leaf2"}, headers=auth
            )
            assert r.status_code == 201, r.text
            r = await http.post(
                "/@host/services",
                headers=auth,
                json={"sid": "sid://reverie.test/registration/leaf", "path": "v2/leaf"},
            )
            assert r.status_code == 201, r.text
            assert {"Leaf", "leaf2", "v2/leaf"} <= set(host.instances)
            for path in ("leaf2", "v2/leaf"):
                assert (await http.post(f"/{path}/ping")).json() == "leaf"
