"""The host's pages in a real headless Chromium: /docs (Swagger UI, offline) and the live
dashboard of the hello graph under a bounded load. Served by a real ``reverie serve``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Browser
from tests.serve.conftest import ServeRun

HELLO = "examples.hello.graph:Frontend"
KEY = "dashboard-test-key-5d1c"


@pytest.fixture
def hello() -> Iterator[ServeRun]:
    run = ServeRun([HELLO, "--no-access-log"], env={"REVERIE_API_KEY": KEY})
    try:
        run.ready()
        yield run
    finally:
        run.kill_all()


def _wait(browser: Browser, what: str, predicate: Any, timeout: float = 30) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(browser.driver, timeout, poll_frequency=0.1).until(predicate)
    except Exception as exc:
        shot = browser.screenshot("failure.png")
        raise AssertionError(f"{what} (screenshot {shot})") from exc


def _only_local_and_ok(browser: Browser, base: str) -> list[dict[str, object]]:
    seen = browser.network()
    assert seen, "the page made no request at all"
    for req in seen:
        url = str(req["url"])
        if not url.startswith(("http:", "https:", "ws:", "wss:")):
            continue  # data: URLs, the browser's own chrome:// pages
        assert url.startswith(base), f"a request left the host: {url}"
        assert req["failed"] is None, f"{url} failed: {req['failed']}"
        assert req["status"] is not None and int(str(req["status"])) < 400, req
    return seen


def _graph(driver: Any) -> dict[str, dict[str, Any]]:
    """The drawn graph, read in one script (the page redraws it every second)."""
    got: dict[str, dict[str, Any]] = driver.execute_script("""
        const nodes = {}, edges = {};
        for (const n of document.querySelectorAll('#graph g.node'))
          nodes[n.dataset.service] = n.dataset.state;
        for (const e of document.querySelectorAll('#graph g.edge'))
          edges[e.dataset.from + '>' + e.dataset.to] = Number(e.dataset.calls);
        return {nodes, edges};""")
    return got


def test_docs_page_loads_offline_and_lists_the_operations(
    hello: ServeRun, browser: Browser
) -> None:
    from selenium.webdriver.common.by import By

    d = browser.driver
    d.get(f"{hello.url}/docs")
    _wait(
        browser,
        "Swagger UI listed no operations",
        lambda drv: len(drv.find_elements(By.CSS_SELECTOR, ".opblock")) >= 4,
    )
    paths = {
        e.text.replace("\u200b", "")
        for e in d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert {
        "/Frontend/hello/{name}",
        "/Frontend/generate",
        "/Middle/generate",
        "/Backend/generate",
    } <= paths
    assert "Reverie: Frontend" in d.find_element(By.CSS_SELECTOR, ".info .title").text
    assert "[public]" in d.page_source
    seen = _only_local_and_ok(browser, hello.url)
    assert any(str(r["url"]).endswith("/docs/openapi-3.0.json") for r in seen)
    browser.screenshot("docs.png")


def test_dashboard_needs_the_internal_key(hello: ServeRun) -> None:
    r = httpx.get(f"{hello.url}/@host/dashboard/data", timeout=10)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic realm=")
    assert "the dashboard is internal" in r.json()["message"]
    r = httpx.get(f"{hello.url}/@host/dashboard/data", timeout=10, auth=("me", "wrong"))
    assert r.status_code == 403
    r = httpx.get(
        f"{hello.url}/@host/dashboard/data", timeout=10, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert r.status_code == 200 and {s["name"] for s in r.json()["services"]} == {
        "Frontend",
        "Middle",
        "Backend",
    }


def test_dashboard_shows_the_hello_graph_and_counts_calls_live(
    hello: ServeRun, browser: Browser
) -> None:
    from selenium.webdriver.common.by import By

    d = browser.driver
    d.get(hello.url.replace("http://", f"http://operator:{KEY}@") + "/@host/dashboard")
    _wait(
        browser,
        "the dashboard drew no graph",
        lambda drv: len(_graph(drv)["nodes"]) == 3 and len(_graph(drv)["edges"]) == 2,
    )
    graph = _graph(d)
    assert graph["nodes"] == {"Frontend": "running", "Middle": "running", "Backend": "running"}
    assert set(graph["edges"]) == {"Frontend>Middle", "Middle>Backend"}

    before = _graph(d)["edges"]["Frontend>Middle"]
    with httpx.Client(base_url=hello.url, timeout=10) as http:  # a bounded load: 40 calls
        for i in range(40):
            assert http.get(f"/Frontend/hello/w{i}").status_code == 200
    _wait(
        browser,
        "the edge's call count did not rise",
        lambda drv: (
            _graph(drv)["edges"]["Frontend>Middle"] >= before + 40
            and _graph(drv)["edges"]["Middle>Backend"] >= before + 40
        ),
    )
    assert "Frontend → Middle" in d.find_element(By.ID, "edges").text
    assert "[deploy" in d.page_source or "class default" in d.page_source  # config sources
    shot = browser.screenshot("dashboard.png")
    assert shot.stat().st_size > 10_000
