"""examples/hello end to end: the demo script, and `reverie serve` in both modes."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.examples.conftest import ROOT, ServeProcess

TARGET = "examples.hello.graph:Frontend"
DEPLOY = "examples/hello/deploy.yaml"


def test_demo_streams_through_three_services() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "examples.hello.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "started Backend, Middle, Frontend" in out
    assert out.count("HI!") == 2 and out.count("WORLD!") == 2
    assert "greeting = Hi" in out and "deploy.yaml:4]" in out


@pytest.mark.parametrize("mode", ["embedded", "processes"])
def test_reverie_serve(serve_process: type[ServeProcess], mode: str) -> None:
    extra = ("--processes",) if mode == "processes" else ()
    proc = serve_process(TARGET, DEPLOY, *extra)
    proc.wait_ready("/health/ready", timeout=60)
    r = httpx.get(f"{proc.url}/Frontend/hello/world", params={"repeat": 2}, timeout=10)
    assert r.status_code == 200 and r.json() == ["HI!", "WORLD!", "HI!", "WORLD!"]
    with httpx.stream(
        "POST",
        f"{proc.url}/Frontend/generate",
        json={"text": "there"},
        headers={"accept": "application/x-ndjson"},
        timeout=10,
    ) as resp:
        lines = [json.loads(line) for line in resp.iter_lines() if line]
    assert lines == ["HI!", "THERE!"]
    bad = httpx.get(f"{proc.url}/Frontend/hello/world", params={"repeat": "x"}, timeout=10)
    assert bad.status_code == 422 and "repeat" in bad.text
    assert "stopped cleanly" in proc.stop()
