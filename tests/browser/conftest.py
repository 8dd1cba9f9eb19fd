"""A headless Debian Chromium driven by selenium (chromedriver from the ``chromium-driver``
package; ``scripts/browser`` installs both), with every network request the page makes recorded.

The browser runs with a fresh profile in the test's temp dir and with background networking,
component updates, sync and first-run pages off, so the only requests it makes are the page's.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1100",
)


@dataclass
class Browser:
    driver: Any
    tmp: Path
    requests: list[dict[str, Any]] = field(default_factory=list)

    def network(self) -> list[dict[str, Any]]:
        """Requests seen since the last call: url, status (None until answered), failure."""
        by_id: dict[str, dict[str, Any]] = {}
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params", {})
            rid = params.get("requestId")
            if msg["method"] == "Network.requestWillBeSent":
                by_id.setdefault(
                    rid, {"url": params["request"]["url"], "status": None, "failed": None}
                )
            elif msg["method"] == "Network.responseReceived" and rid in by_id:
                by_id[rid]["status"] = params["response"]["status"]
            elif msg["method"] == "Network.loadingFailed" and rid in by_id:
                by_id[rid]["failed"] = params.get("errorText") or "failed"
        got = list(by_id.values())
        self.requests.extend(got)
        return got

    def screenshot(self, name: str) -> Path:
        path = self.tmp / name
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_bin:
        message = (
            "chromium and chromedriver are needed (Debian packages chromium, "
            "chromium-driver; scripts/browser installs them)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (*ARGS, f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # An explicit chromedriver: selenium never looks for (or downloads) one of its own.
    drv = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield Browser(drv, tmp_path)
    finally:
        drv.quit()
