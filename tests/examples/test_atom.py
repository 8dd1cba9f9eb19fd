"""examples/atom: the Atom feed over a feed service bound by SID, in-process, over HTTP and through
``reverie serve``; the second implementation swapped in by the deployment file alone."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.atom.graph import (
    ATOM_NS,
    FEED_SID,
    AtomService,
    Entry,
    FeedPage,
    FeedStore,
    atom_document,
)
from examples.atom.seeded import SeededFeedStore
from reverie import Plug, attach_http
from reverie.errors import ServiceError, StartError
from reverie.testing import make_instance, run_graph

from .conftest import EXAMPLES, ServeProcess, free_port, served

DEPLOY = str(EXAMPLES / "atom" / "deploy.yaml")
DEPLOY_ALT = str(EXAMPLES / "atom" / "deploy-alt.yaml")
ALT_TEXT = Path(DEPLOY_ALT).read_text()
A = f"{{{ATOM_NS}}}"


def _plug(g: Any, uri: str) -> Plug:
    """A Plug made by the graph's host: its ``local://`` URIs answer in-process."""
    return attach_http(g.host).plug(uri)


def parse(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{A}feed"
    return root


def titles(root: ET.Element) -> list[str]:
    return [e.findtext(f"{A}title") or "" for e in root.findall(f"{A}entry")]


# -- in-process -----------------------------------------------------------------------------------


async def test_feed_lists_added_entries_newest_first_with_limit() -> None:
    async with run_graph(AtomService, deployment=DEPLOY) as g:
        assert type(g.obj("FeedStore")) is FeedStore  # deploy.yaml binds the in-memory store
        store = _plug(g, f"local://{g.host.name}/FeedStore")
        for i in range(3):
            resp = await store.at("entries").post(json={"title": f"entry {i}", "author": "ann"})
            assert resp.status == 200, resp.text
        atom = _plug(g, f"local://{g.host.name}/AtomService").at("feed")
        resp = await atom.get()
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/atom+xml; charset=utf-8"
        root = parse(resp.content)
        assert root.findtext(f"{A}title") == "Reverie news"  # FeedStore.title from deploy.yaml
        assert titles(root) == ["entry 2", "entry 1", "entry 0"]
        first = root.findall(f"{A}entry")[0]
        assert first.findtext(f"{A}author/{A}name") == "ann"
        assert first.findtext(f"{A}id") == "urn:reverie:atom:entry:3"
        assert first.findtext(f"{A}updated", "").endswith("Z")
        assert titles(parse((await atom.with_(limit=2).get()).content)) == ["entry 2", "entry 1"]
        assert titles(parse((await atom.with_(limit=0).get()).content)) == []


async def test_text_is_escaped_and_characters_xml_cannot_carry_are_dropped() -> None:
    async with run_graph(AtomService, deployment=DEPLOY) as g:
        store = _plug(g, f"local://{g.host.name}/FeedStore")
        nasty = 'Tom & "Jerry" <script>alert(1)</script> \x01\x08 é ✓'
        resp = await store.at("entries").post(
            json={
                "title": nasty,
                "content": "]]> <![CDATA[ x",
                "link": "https://e.org/?a=1&b=2",
            }
        )
        assert resp.status == 200
        body = (await _plug(g, f"local://{g.host.name}/AtomService").at("feed").get()).content
        assert b"<script>" not in body and b"&lt;script&gt;" in body
        entry = parse(body).findall(f"{A}entry")[0]
        assert entry.findtext(f"{A}title") == 'Tom & "Jerry" <script>alert(1)</script>  é ✓'
        assert entry.findtext(f"{A}content") == "]]> <![CDATA[ x"
        link = entry.find(f"{A}link")
        assert link is not None and link.get("href") == "https://e.org/?a=1&b=2"


async def test_deploy_alt_swaps_the_feed_implementation_by_bind_alone() -> None:
    async with run_graph(AtomService, deployment=DEPLOY_ALT) as g:
        assert type(g.obj("FeedStore")) is SeededFeedStore
        assert g.host.registry.resolve(FEED_SID) is SeededFeedStore
        root = parse(
            (await _plug(g, f"local://{g.host.name}/AtomService").at("feed").get()).content
        )
        assert root.findtext(f"{A}title") == "Dream archive"
        assert titles(root) == [
            'Config < features & "escaping"',
            "Calls through a Plug",
            "Services are found by SID",
        ]
        resp = (
            await _plug(g, f"local://{g.host.name}/FeedStore")
            .at("entries")
            .post(json={"title": "new"})
        )
        assert resp.status == 405
        assert "this feed is read-only (SeededFeedStore" in resp.json()["message"]
        assert (
            "bind sid://reverie.dev/2026/examples/atom/feed to examples.atom.graph:FeedStore"
            in resp.json()["message"]
        )


async def test_default_ttl_drops_entries_older_than_it() -> None:
    # The archive's entries are from early 2026; a one-hour TTL leaves none, no TTL leaves all.
    async with run_graph(
        AtomService, deployment=DEPLOY_ALT, config={"AtomService": {"default-ttl": 3600}}
    ) as g:
        body = (await _plug(g, f"local://{g.host.name}/AtomService").at("feed").get()).content
        assert titles(parse(body)) == []
    async with run_graph(AtomService, deployment=DEPLOY) as g:  # 86400 s: fresh entries stay
        await _plug(g, f"local://{g.host.name}/FeedStore").at("entries").post(json={"title": "new"})
        body = (await _plug(g, f"local://{g.host.name}/AtomService").at("feed").get()).content
        assert titles(parse(body)) == ["new"]


def test_atom_document_shape() -> None:
    when = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    page = FeedPage(
        title="T",
        entries=[
            Entry(id="urn:x:1", title="a", content="c", author="me", link=None, updated=when),
        ],
    )
    body = atom_document(page, feed_id="urn:x", self_link="http://h/feed")
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = parse(body)
    assert root.findtext(f"{A}id") == "urn:x"
    assert root.findtext(f"{A}updated") == "2026-05-01T12:00:00Z"
    self_link = root.find(f"{A}link")
    assert self_link is not None and self_link.get("rel") == "self"
    content = root.find(f"{A}entry/{A}content")
    assert content is not None and content.get("type") == "text"
    assert root.find(f"{A}entry/{A}link") is None  # no link given, none written


# -- error paths ----------------------------------------------------------------------------------


async def test_negative_limit_is_a_400_naming_the_value() -> None:
    async with run_graph(AtomService, deployment=DEPLOY) as g:
        resp = await _plug(g, f"local://{g.host.name}/AtomService").at("feed").with_(limit=-1).get()
        assert resp.status == 400
        assert resp.json()["message"] == ("limit=-1 is negative; give 0 or more, or leave it out")


async def test_unreachable_feed_uri_is_a_502_naming_the_uri() -> None:
    uri = f"http://127.0.0.1:{free_port()}/FeedStore"  # nothing listens there
    async with run_graph(
        AtomService, deployment=DEPLOY, config={"AtomService": {"feed.uri": uri}}
    ) as g:
        resp = await _plug(g, f"local://{g.host.name}/AtomService").at("feed").get()
        assert resp.status == 502
        assert resp.json()["message"].startswith(f"the feed service at {uri} is unreachable: ")


async def test_feed_uri_answering_an_error_is_a_502_with_its_status() -> None:
    async with run_graph(AtomService, deployment=DEPLOY) as g:
        wrong = f"local://{g.host.name}/NoSuchService"
        g.obj(AtomService).__dict__["feed_uri"] = wrong  # repoint it while running
        resp = await _plug(g, f"local://{g.host.name}/AtomService").at("feed").get()
        assert resp.status == 502
        message = resp.json()["message"]
        assert message.startswith(f"the feed service at {wrong} answered 404: ")
        assert "no service is mounted at /NoSuchService" in message


async def test_non_positive_default_ttl_fails_the_start() -> None:
    with pytest.raises(StartError) as info:
        async with run_graph(
            AtomService, deployment=DEPLOY, config={"AtomService": {"default-ttl": 0}}
        ):
            pass
    assert "default-ttl=0.0 must be a positive number of seconds, or unset" in str(info.value)


async def test_seeded_store_with_a_missing_file_fails_the_start() -> None:
    with pytest.raises(StartError) as info:
        async with run_graph(
            AtomService,
            deployment=DEPLOY_ALT,
            config={"FeedStore": {"source": "/nonexistent/feed.json"}},
        ):
            pass
    assert "cannot read the feed file /nonexistent/feed.json" in str(info.value)
    assert "set FeedStore.source in the deployment file" in str(info.value)


async def test_a_bound_feed_that_cannot_be_reached_is_a_502() -> None:
    """The feed is always read through its dependency's Plug; a failure there is a 502."""

    class Unreachable:  # a dependency client whose features are at a port nobody listens on
        plug = Plug(f"http://127.0.0.1:{free_port()}/FeedStore")

    atom = make_instance(AtomService, feed=Unreachable())
    with pytest.raises(ServiceError) as info:
        await atom.get_feed()
    assert info.value.status == 502
    assert info.value.message.startswith(
        f"the feed service at the bound {FEED_SID} is unreachable: "
    )


async def _reference_feed() -> bytes:
    """GET /AtomService/feed?limit=2 with the seeded store (deploy-alt.yaml), in one process."""
    async with run_graph(AtomService, deployment=DEPLOY_ALT) as g:
        resp = await g.http(AtomService).get("feed", params={"limit": 2})
        assert resp.status == 200, resp.text
        return resp.content


# -- over HTTP, and through `reverie serve` -------------------------------------------------------


async def test_over_http_with_feed_uri_pointing_at_another_host() -> None:
    """Two hosts: the feed on one, the Atom service on the other, joined by feed.uri alone."""
    async with served(FeedStore, config={"FeedStore": {"title": "Elsewhere"}}) as feed:
        async with httpx.AsyncClient(base_url=feed.url, timeout=10) as http:
            assert (
                await http.post("/FeedStore/entries", json={"title": "remote"})
            ).status_code == 200
        async with (
            served(
                AtomService,
                deployment=DEPLOY,
                config={"AtomService": {"feed.uri": f"{feed.url}/FeedStore"}},
            ) as atom,
            httpx.AsyncClient(base_url=atom.url, timeout=10) as http,
        ):
            resp = await http.get("/AtomService/feed", params={"limit": 5})
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "application/atom+xml; charset=utf-8"
            root = parse(resp.content)
            assert root.findtext(f"{A}title") == "Elsewhere"
            assert titles(root) == ["remote"]


@pytest.mark.parametrize(
    ("deploy", "feed_title"), [(DEPLOY, "Reverie news"), (DEPLOY_ALT, "Dream archive")]
)
def test_reverie_serve(serve_process: type[ServeProcess], deploy: str, feed_title: str) -> None:
    proc = serve_process("examples.atom.graph:AtomService", deploy)
    proc.wait_ready("/AtomService/feed", timeout=30)
    added = httpx.post(f"{proc.url}/FeedStore/entries", json={"title": "hello"}, timeout=10)
    resp = httpx.get(f"{proc.url}/AtomService/feed?limit=1", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = parse(resp.content)
    assert root.findtext(f"{A}title") == feed_title
    if deploy == DEPLOY:
        assert added.status_code == 200 and titles(root) == ["hello"]
    else:  # the archive's store is not exposed: only AtomService (its dependent) reaches it
        assert added.status_code == 404 and titles(root) == ['Config < features & "escaping"']


def test_plug_over_http_between_two_hosts_same_bytes(
    serve_process: type[ServeProcess], tmp_path: Path
) -> None:
    """The store served by one host, the Atom service by another (``ServiceArgs: url``): the
    feed is read through the dependency's Plug over HTTP, with the same bytes as in one
    process."""
    reference = asyncio.run(_reference_feed())
    (tmp_path / "store.yaml").write_text("FeedStore: {}\n")
    store = serve_process("examples.atom.seeded:SeededFeedStore", str(tmp_path / "store.yaml"))
    store.wait_ready("/FeedStore/entries", timeout=60)
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(ALT_TEXT + f"FeedStore:\n  ServiceArgs:\n    url: {store.url}/FeedStore\n")
    atom = serve_process("examples.atom.graph:AtomService", str(deploy))
    atom.wait_ready("/AtomService/feed", timeout=60)
    resp = httpx.get(f"{atom.url}/AtomService/feed?limit=2", timeout=10)
    assert resp.status_code == 200
    assert resp.content == reference
    assert "GET /FeedStore/entries?limit=2" in store.output()  # it came over HTTP


def test_reverie_serve_processes(serve_process: type[ServeProcess]) -> None:
    """Each service in its own process, joined over NATS: the feed is read through its Plug,
    over the runtime, with the same bytes as in one process; the same public surface."""
    reference = asyncio.run(_reference_feed())
    proc = serve_process(
        "examples.atom.graph:AtomService",
        DEPLOY_ALT,
        "--processes",
        env={"REVERIE_API_KEY": "k-atom"},
    )
    proc.wait_ready("/AtomService/feed", timeout=60)
    resp = httpx.get(f"{proc.url}/AtomService/feed?limit=2", timeout=10)
    assert resp.status_code == 200
    assert resp.content == reference
    root = parse(resp.content)
    assert root.findtext(f"{A}title") == "Dream archive"
    assert titles(root) == ['Config < features & "escaping"', "Calls through a Plug"]
    # the same public surface as embedded: the store is not exposed, so it is not found ...
    gone = httpx.post(f"{proc.url}/FeedStore/entries", json={"title": "x"}, timeout=10)
    assert gone.status_code == 404
    assert "no service is mounted at /FeedStore; mounted: /AtomService" in gone.text
    # ... except for the operator, whose key reaches it in its own process
    key = {"Authorization": "Bearer k-atom"}
    page = httpx.get(f"{proc.url}/FeedStore/entries?limit=1", headers=key, timeout=10)
    assert page.status_code == 200 and page.json()["title"] == "Dream archive"


def test_one_http_surface_embedded_and_processes(
    serve_process: type[ServeProcess], tmp_path: Path
) -> None:
    """An exposed store in its own process answers at the same URL, with the same status,
    headers and bytes, as in one process: the HTTP process carries it over the runtime."""
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(ALT_TEXT + "FeedStore:\n  ServiceArgs:\n    expose: true\n")
    one = serve_process("examples.atom.graph:AtomService", str(deploy))
    many = serve_process("examples.atom.graph:AtomService", str(deploy), "--processes")
    one.wait_ready("/FeedStore/entries", timeout=60)
    many.wait_ready("/FeedStore/entries", timeout=60)
    requests: list[tuple[str, str, dict[str, object]]] = [
        ("GET", "/FeedStore/entries?limit=1", {}),
        ("GET", "/FeedStore/entries?limit=-x", {}),
        ("POST", "/FeedStore/entries", {"json": {"title": "x"}}),
        ("POST", "/FeedStore/entries", {"content": b"{not json"}),
        ("GET", "/FeedStore/nowhere", {}),
        ("DELETE", "/FeedStore/entries", {}),
        ("GET", "/AtomService/feed?limit=2", {}),
        ("GET", "/Nothing/here", {}),
    ]
    for method, path, kw in requests:
        answers = []
        for proc in (one, many):
            r = httpx.request(
                method,
                proc.url + path,
                timeout=10,
                headers={"X-Request-Id": "same-id"},
                **kw,  # type: ignore[arg-type]
            )
            head = {k: v for k, v in r.headers.items() if k not in ("date", "server")}
            answers.append((r.status_code, head, r.content))
        assert answers[0] == answers[1], (method, path)
    assert answers[0][0] == 404
