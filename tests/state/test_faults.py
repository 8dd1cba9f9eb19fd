"""Bad input and faults: refused swaps change nothing; HTTP routes say why; a worker killed in
the middle of a swap comes back with exactly one implementation serving, from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.counter.service import Counter, Front, Hit
from reverie import Host
from reverie._private.http.server import HttpServer
from reverie.errors import SwapError
from tests.serve.conftest import ROOT
from tests.state.svc_faults import RestoreFails, Sessions

KEY = "state-fault-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _host() -> Host:
    host = Host(env={})
    host.register(Counter)
    return host


async def test_swap_refusals_change_nothing() -> None:
    async with _host() as host:
        await host.start(Front)
        front = host.client(Front)
        await front.hit(Hit("k", by=2))
        with pytest.raises(
            SwapError,
            match=r"Counter \(RestoreFails\) failed while restoring: "
            r"StateError: Counter: restore method load raised "
            r"RuntimeError: corrupt index; Counter keeps serving",
        ):
            await host.swap("Counter", RestoreFails)
        with pytest.raises(
            SwapError,
            match=r"state 'counter' \(captured from Counter\) is not "
            r"its state 'sessions'",
        ):
            await host.swap("Counter", Sessions)
        inst = host.instance("Counter")
        assert inst.cls is Counter and inst.accepting and inst.hold is None
        assert await front.hit(Hit("k")) == 3
        assert [i.cls for i in host.instances.values()].count(Counter) == 1


async def test_http_state_routes_say_why() -> None:
    host = _host()
    server = HttpServer(host, port=0, api_key=KEY)
    await host.start(Front)
    try:
        async with server, httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/Counter/@state")).status_code == 401
            r = await http.get("/Front/@state", headers=AUTH)
            assert r.status_code == 404 and "Front (at /Front) declares no state" in r.text
            r = await http.get("/Counter/@state", headers=AUTH)
            assert r.status_code == 200 and r.json()["name"] == "counter"
            doc = r.json()
            r = await http.post(
                "/@host/services",
                headers=AUTH,
                json={"class": "Counter", "path": "c2", "state": {**doc, "version": 9}},
            )
            assert r.status_code == 400
            assert "version 9 is unknown here: this implementation reads version 1" in r.text
            r = await http.post(
                "/@host/services",
                headers=AUTH,
                json={"class": "Counter", "path": "c2", "state": "not a document"},
            )
            assert r.status_code == 400 and "not a state document" in r.text
            assert "c2" not in host.instances
            r = await http.put("/@host/services/Counter", headers=AUTH, json={"nope": 1})
            assert r.status_code == 400 and "unknown fields nope" in r.text
            r = await http.put("/@host/services/nowhere", headers=AUTH, json={"class": "Counter"})
            assert r.status_code == 404 and "no instance at path 'nowhere'" in r.text
            r = await http.put(
                "/@host/services/Counter",
                headers=AUTH,
                json={"class": "tests.state.svc_faults:Sessions"},
            )
            assert r.status_code == 409 and "keeps serving" in r.text
            r = await http.put(
                "/@host/services/Counter",
                headers=AUTH,
                json={"class": "examples.counter.v2:CounterV2"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["swapped"] == {"from": "Counter", "to": "Counter"}
            assert r.json()["class"] == "examples.counter.v2:CounterV2"
    finally:
        await host.stop()


def test_kill9_during_a_swap_leaves_exactly_one_serving(serve: Any, tmp_path: Path) -> None:
    deploy = tmp_path / "shop.yaml"
    deploy.write_text(f"state:\n  path: {tmp_path / 'ckpt'}\n  interval: 0.1\n")
    # The counter is the entry: its own supervised worker process, with the HTTP host.
    run = serve(
        "examples.counter.service:Counter",
        "-f",
        str(deploy),
        "--processes",
        env={"REVERIE_API_KEY": KEY},
    )
    pid = run.rows()["Counter"]["pids"][0]
    with httpx.Client(timeout=10) as c:
        for _ in range(4):
            assert c.post(f"{run.url}/Counter/hit", json={"key": "s"}).status_code == 200
    ckpt = tmp_path / "ckpt" / "shop" / "Counter.json"
    deadline = time.monotonic() + 20
    while not (ckpt.exists() and json.loads(ckpt.read_text())["data"]["counts"].get("s") == 4):
        assert time.monotonic() < deadline, "no checkpoint with s=4"
        time.sleep(0.05)
    swap = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reverie.cli",
            "swap",
            run.url,
            "Counter",
            "--to",
            "tests.state.svc_faults:StartsForever",
        ],
        cwd=ROOT,
        env={**os.environ, "REVERIE_API_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run.wait_for(lambda e: "on_start is running (the swap is in progress)" in str(e), 30)
        os.kill(pid, signal.SIGKILL)
        swap.communicate(timeout=30)
        assert swap.returncode == 1  # the swap did not happen, and the CLI says so
    finally:
        if swap.poll() is None:
            swap.kill()
    run.wait_for(lambda e: "restored from its last checkpoint" in str(e), 30)
    run.wait_for(lambda e: "is back" in str(e.get("message")), 30)
    with httpx.Client(timeout=10) as c:
        assert c.post(f"{run.url}/Counter/info").json()["impl"] == "Counter"
        assert c.post(f"{run.url}/Counter/get", json="s").json() == 4
        services = c.get(f"{run.url}/@host/services", headers=AUTH).json()
    counters = [s for s in services if s["name"] == "Counter" and s["state"] == "running"]
    assert len(counters) == 1 and counters[0]["class"] == "examples.counter.service:Counter"
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
