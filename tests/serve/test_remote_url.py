"""Remote dependencies from the deployment file: ``ServiceArgs: url`` says a service runs
elsewhere; the host does not start it, dependents reach it over HTTP, and ``reverie config`` and
``--dry-run`` show it with its source."""

from __future__ import annotations

import json
from pathlib import Path

from reverie._private.host.host import Host
from reverie._private.http.attach import attach_http
from reverie._private.http.server import HttpServer
from tests.http.services import Feed, Reader
from tests.serve.conftest import reverie

BIND = "bind:\n  sid://reverie.dev/2026/examples/atom/feed: examples.atom.graph:FeedStore\n"


async def test_a_dependency_with_a_url_is_reached_over_http(tmp_path: Path) -> None:
    far = Host(env={}, name="far")
    await far.start(Feed)
    async with HttpServer(far, port=0, access_log=False) as srv:
        deploy = tmp_path / "deploy.yaml"
        deploy.write_text(f"Feed:\n  ServiceArgs:\n    url: {srv.url}/Feed\n")
        near = Host(env={}, name="near", deployment=deploy)
        attach_http(near)
        try:
            await near.start(Reader, config={"Reader": {"feed_uri": f"{srv.url}/Feed"}})
            assert "Feed" not in near.instances
            client = near.instance("Reader").obj.feed
            assert client.transport.describe() == f"{srv.url}/Feed"
            assert await client.double(3) == 6
        finally:
            await near.stop()
    await far.stop()


def test_dry_run_and_config_show_it(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(
        BIND + "FeedStore:\n  ServiceArgs:\n    url: http://10.0.0.5:8000/FeedStore\n"
    )
    proc = reverie(
        "serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    remote = {s["name"]: s["remote_url"] for s in plan["services"]}
    assert remote == {"AtomService": None, "FeedStore": "http://10.0.0.5:8000/FeedStore"}
    assert all("FeedStore" not in p["services"] for p in plan["processes"])
    proc = reverie("config", "examples.atom.graph:AtomService", "-f", str(deploy))
    assert proc.returncode == 0, proc.stderr
    assert "http://10.0.0.5:8000/FeedStore" in proc.stdout
    assert "deploy.yaml:5" in proc.stdout


def test_a_url_must_be_http(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(BIND + "FeedStore:\n  ServiceArgs:\n    url: ftp://x/FeedStore\n")
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run")
    assert proc.returncode != 0
    assert "url must be the http:// or https:// base URL" in proc.stderr


FEED_SID = "sid://reverie.dev/2026/examples/atom/feed"


async def test_a_url_keyed_by_sid_is_reached_over_http(tmp_path: Path) -> None:
    far = Host(env={}, name="far")
    await far.start(Feed)
    async with HttpServer(far, port=0, access_log=False) as srv:
        deploy = tmp_path / "deploy.yaml"
        deploy.write_text(
            f'"sid://reverie.dev/tests/http/feed":\n  ServiceArgs:\n    url: {srv.url}/Feed\n'
        )
        near = Host(env={}, name="near", deployment=deploy)
        attach_http(near)
        try:
            await near.start(Reader, config={"Reader": {"feed_uri": f"{srv.url}/Feed"}})
            assert "Feed" not in near.instances
            client = near.instance("Reader").obj.feed
            assert client.transport.describe() == f"{srv.url}/Feed"
            assert await client.double(4) == 8
        finally:
            await near.stop()
    await far.stop()


def test_dry_run_and_config_show_a_url_keyed_by_sid(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(BIND + f'"{FEED_SID}":\n  ServiceArgs:\n    url: http://10.0.0.5:8000/F\n')
    proc = reverie(
        "serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    remote = {s["name"]: s["remote_url"] for s in plan["services"]}
    assert remote == {"AtomService": None, "FeedStore": "http://10.0.0.5:8000/F"}
    assert all("FeedStore" not in p["services"] for p in plan["processes"])
    proc = reverie("config", "examples.atom.graph:AtomService", "-f", str(deploy))
    assert proc.returncode == 0, proc.stderr
    assert "http://10.0.0.5:8000/F" in proc.stdout
    assert "deploy.yaml:5" in proc.stdout


def test_a_sid_section_holds_only_a_url(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(BIND + f'"{FEED_SID}":\n  title: x\n')
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run")
    assert proc.returncode != 0
    assert (
        "a section keyed by a SID says only where that service runs (ServiceArgs: url), "
        "not 'title'" in proc.stderr
    )
    deploy.write_text(BIND + f'"{FEED_SID}":\n  ServiceArgs:\n    workers: 2\n')
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run")
    assert proc.returncode != 0
    assert "unknown key 'workers'" in proc.stderr
    assert "ServiceArgs of a section keyed by a SID takes url" in proc.stderr


def test_a_sid_section_must_name_a_sid_of_the_graph_once(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(
        BIND + '"sid://reverie.dev/2026/examples/atom/fed":\n  ServiceArgs:\n'
        "    url: http://10.0.0.5:8000/F\n"
    )
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run")
    assert proc.returncode != 0
    assert (
        "section 'sid://reverie.dev/2026/examples/atom/fed' names a SID that no service of "
        "this graph provides"
    ) in proc.stderr
    assert FEED_SID in proc.stderr  # did you mean
    deploy.write_text(
        BIND + f'"{FEED_SID}":\n  ServiceArgs:\n    url: http://10.0.0.5:8000/F\n'
        "FeedStore:\n  ServiceArgs:\n    url: http://10.0.0.6:8000/F\n"
    )
    proc = reverie("serve", "examples.atom.graph:AtomService", "-f", str(deploy), "--dry-run")
    assert proc.returncode != 0
    assert "FeedStore's url is given twice: in its section (" in proc.stderr
    assert f"and in the section of its SID {FEED_SID} (" in proc.stderr
