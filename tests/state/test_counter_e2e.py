"""The counter example keeps its state across a supervisor restart after kill -9 (from the
checkpoint), a graceful restart, PUT @config, a live swap to a second implementation (CLI) and
a save/load through the CLI. Real processes: ``reverie serve`` and the ``reverie`` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.serve.conftest import ServeRun, reverie

ENTRY = "examples.counter.service:Front"
KEY = "state-test-key-0123456789abcdef"
ENV = {"REVERIE_API_KEY": KEY}
AUTH = {"Authorization": f"Bearer {KEY}"}


def _deploy(tmp_path: Path, *, separate: bool, interval: float = 0.2) -> str:
    text = f"state:\n  path: {tmp_path / 'ckpt'}\n  interval: {interval}\n"
    if separate:
        text += "Counter:\n  ServiceArgs:\n    process: separate\n"
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    return str(path)


def _hit(run: ServeRun, key: str, n: int = 1) -> int:
    last = 0
    with httpx.Client(timeout=10) as c:
        for _ in range(n):
            r = c.post(f"{run.url}/Front/hit", json={"key": key})
            assert r.status_code == 200, r.text
            last = r.json()
    return last


def _get(run: ServeRun, key: str) -> Any:
    r = httpx.post(f"{run.url}/Front/get", json=key, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


async def _kv_count(url: str, bucket: str, key: str, name: str, want: int) -> int:
    """Wait (bounded) for the KV checkpoint to hold ``want`` for ``name``; the last value."""
    import nats

    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().key_value(bucket)
        got = -1
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                value = (await kv.get(key)).value or b"null"
                got = json.loads(value)["data"]["counts"].get(name, -1)
            except Exception:
                got = -1
            if got == want:
                break
            await asyncio.sleep(0.05)
        return int(got)
    finally:
        await nc.close()


def _wait_checkpoint(file: Path, key: str, value: int, timeout: float = 20.0) -> dict[str, Any]:
    """Wait for the checkpoint file to hold ``value`` for ``key`` (an event: the file)."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if file.exists():
            doc = json.loads(file.read_text())
            if doc["data"]["counts"].get(key) == value:
                return doc
        time.sleep(0.05)
    raise AssertionError(f"checkpoint {file} never held {key}={value}; last: {doc}")


def test_kill9_restart_resumes_from_checkpoint_and_graceful_restart(
    serve: Any, tmp_path: Path
) -> None:
    deploy = _deploy(tmp_path, separate=True)
    run = serve(ENTRY, "-f", deploy, env=ENV)
    rows = run.rows()
    assert _hit(run, "a", 5) == 5
    ckpt = tmp_path / "ckpt" / "shop" / "Counter.json"
    doc = _wait_checkpoint(ckpt, "a", 5)
    assert (doc["service"], doc["name"], doc["version"]) == ("Counter", "counter", 1)

    victim = rows["Counter"]["pids"][0]
    os.kill(victim, signal.SIGKILL)
    restored = run.wait_for(lambda e: "restored from its last checkpoint" in str(e), 30)
    assert "Counter" in str(restored)
    run.wait_for(lambda e: "is back" in str(e.get("message")), 30)
    assert _get(run, "a") == 5
    assert _hit(run, "a") == 6

    # Graceful restart of the whole deployment: the shutdown checkpoint has the last hit.
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
    assert json.loads(ckpt.read_text())["data"]["counts"]["a"] == 6
    again = serve(ENTRY, "-f", deploy, env=ENV)
    again.ready()
    again.wait_for(lambda e: "restored from its last checkpoint" in str(e), 30)
    assert _get(again, "a") == 6
    again.signal(signal.SIGTERM)
    assert again.wait(30) == 0


def test_put_config_swap_and_cli_save_load_keep_state(serve: Any, tmp_path: Path) -> None:
    deploy = _deploy(tmp_path, separate=False, interval=0)
    run = serve(ENTRY, "-f", deploy, env=ENV)
    run.ready()
    assert _hit(run, "k", 3) == 3

    # PUT @config restarts the instance with the new value; the counts survive.
    r = httpx.put(f"{run.url}/Counter/@config", json={"label": "renamed"}, headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == "restart"
    info = httpx.post(f"{run.url}/Front/info", timeout=10).json()
    assert info["label"] == "renamed"
    assert _get(run, "k") == 3

    # reverie state save: the capture, from the private @state route.
    saved = reverie("state", "save", f"{run.url}/Counter", env=ENV)
    assert saved.returncode == 0, saved.stderr
    doc = json.loads(saved.stdout)
    assert (doc["name"], doc["version"], doc["data"]) == ("counter", 1, {"counts": {"k": 3}})
    denied = reverie("state", "save", f"{run.url}/Counter", env={"REVERIE_API_KEY": "wrong"})
    assert denied.returncode == 1 and "API key" in denied.stderr

    # reverie swap: CounterV2 takes over live, migrating the version 1 state.
    swapped = reverie("swap", run.url, "Counter", "--to", "examples.counter.v2:CounterV2", env=ENV)
    assert swapped.returncode == 0, swapped.stderr
    assert "Counter -> Counter (examples.counter.v2:CounterV2)" in swapped.stdout
    info = httpx.post(f"{run.url}/Front/info", timeout=10).json()
    assert info["impl"] == "CounterV2"
    assert _get(run, "k") == 3  # Front's client kept working, the state moved over
    assert _hit(run, "k") == 4

    # reverie state load: a second instance from the saved (version 1) file.
    file = tmp_path / "counter.json"
    file.write_text(saved.stdout)
    loaded = reverie(
        "state",
        "load",
        run.url,
        str(file),
        "--path",
        "copy",
        "--class",
        "examples.counter.v2:CounterV2",
        env=ENV,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["path"] == "copy"
    r = httpx.get(f"{run.url}/copy/counts/k", timeout=10)
    assert r.json() == 3

    # A document of another state is refused, naming why; nothing was started.
    file.write_text(json.dumps({**doc, "name": "sessions"}))
    bad = reverie("state", "load", run.url, str(file), "--path", "other", env=ENV)
    assert bad.returncode == 1
    assert "state 'sessions' (captured from Counter) is not its state 'counter'" in bad.stderr
    assert "other" not in {
        s["path"] for s in httpx.get(f"{run.url}/@host/services", headers=AUTH, timeout=10).json()
    }

    # A swap that cannot happen leaves the current implementation serving.
    failed = reverie("swap", run.url, "Counter", "--to", "examples.counter.service:Front", env=ENV)
    assert failed.returncode == 1
    assert "keeps serving" in failed.stderr or "implements no SID" in failed.stderr
    assert httpx.post(f"{run.url}/Front/info", timeout=10).json()["impl"] == "CounterV2"
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0


def test_checkpoints_in_a_nats_kv_bucket_survive_kill9(serve: Any, tmp_path: Path) -> None:
    deploy = tmp_path / "kvshop.yaml"
    deploy.write_text(
        "state:\n  store: nats\n  bucket: shop-state\n  interval: 0.1\n"
        "Counter:\n  ServiceArgs:\n    process: separate\n"
    )
    run = serve(ENTRY, "-f", str(deploy), env=ENV)
    rows = run.rows()
    assert _hit(run, "n", 3) == 3
    run.wait_for(lambda e: "checkpoint of Counter saved to NATS KV bucket shop-state" in str(e))
    ev = run.wait_for(lambda e: "embedded nats-server on" in str(e.get("message")))
    nats_url = str(ev["message"]).split(" on ")[1].split(" ")[0]
    assert asyncio.run(_kv_count(nats_url, "shop-state", "kvshop/Counter", "n", 3)) == 3
    os.kill(rows["Counter"]["pids"][0], signal.SIGKILL)
    run.wait_for(lambda e: "restored from its last checkpoint" in str(e), 30)
    run.wait_for(lambda e: "is back" in str(e.get("message")), 30)
    assert _get(run, "n") == 3
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
