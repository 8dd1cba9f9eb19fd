"""Migration between processes over the runtime (``reverie migrate``): the counter moves from
its own worker process into the main one with its state, while calls keep arriving and none
fails; a refused migration leaves it where it was; ``reverie swap nats://…`` swaps it live in the
process that serves it."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.serve.conftest import ServeRun, reverie

ENTRY = "examples.counter.service:Front"


def _nats_url(run: ServeRun) -> str:
    ev = run.wait_for(lambda e: "embedded nats-server on" in str(e.get("message")))
    return str(ev["message"]).split(" on ")[1].split(" ")[0]


def test_migrate_to_another_process_keeps_state_and_loses_no_call(
    serve: Any, tmp_path: Path
) -> None:
    deploy = tmp_path / "shop.yaml"
    deploy.write_text(
        f"state:\n  path: {tmp_path / 'ckpt'}\n  interval: 0\n"
        "Counter:\n  ServiceArgs:\n    process: separate\n"
    )
    run = serve(ENTRY, "-f", str(deploy))
    rows = run.rows()
    counter_pid = rows["Counter"]["pids"][0]
    main_pid = rows["Front"]["pids"][0]
    nats = _nats_url(run)
    with httpx.Client(timeout=30) as c:
        for _ in range(5):
            assert c.post(f"{run.url}/Front/hit", json={"key": "m"}).status_code == 200
        assert c.post(f"{run.url}/Front/info").json()["pid"] == counter_pid

    # A bounded load while the instance moves: every call must succeed.
    failures: list[str] = []
    done = threading.Event()
    sent = [0]

    def load() -> None:
        with httpx.Client(timeout=30) as c:
            for _ in range(400):
                if done.is_set():
                    break
                r = c.post(f"{run.url}/Front/hit", json={"key": "load"})
                sent[0] += 1
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text}")

    worker = threading.Thread(target=load)
    worker.start()
    res = reverie("migrate", f"{nats}#examples/Counter", "--to", "examples/Front")
    done.set()
    worker.join(60)
    assert res.returncode == 0, res.stderr
    assert "examples/Counter: migrated from" in res.stdout
    assert failures == []
    run.wait_for(lambda e: "received by migration with state counter version 1" in str(e))

    with httpx.Client(timeout=30) as c:
        assert c.post(f"{run.url}/Front/info").json()["pid"] == main_pid  # moved
        assert c.post(f"{run.url}/Front/get", json="m").json() == 5  # with its state
        assert c.post(f"{run.url}/Front/get", json="load").json() == sent[0]  # none lost

    # Moving it again to where it already runs is refused, and it keeps serving.
    res = reverie("migrate", f"{nats}#examples/Counter", "--to", "examples/Front")
    assert res.returncode == 1
    assert "the destination is the process it runs in" in res.stderr
    bogus = reverie("migrate", f"{nats}#examples/Counter", "--to", "nosuchinstance")
    assert bogus.returncode == 1 and "did not answer" in bogus.stderr
    with httpx.Client(timeout=30) as c:
        assert c.post(f"{run.url}/Front/get", json="m").json() == 5

    # And back to the process it came from (which serves nothing now: found by pid).
    res = reverie("migrate", f"{nats}#examples/Counter", "--to", f"pid:{counter_pid}")
    assert res.returncode == 0, res.stderr
    with httpx.Client(timeout=30) as c:
        assert c.post(f"{run.url}/Front/info").json()["pid"] == counter_pid
        assert c.post(f"{run.url}/Front/hit", json={"key": "m"}).json() == 6

    # A live swap over the runtime, in whichever process serves the component.
    res = reverie("swap", f"{nats}#examples/Counter", "--to", "examples.counter.v2:CounterV2")
    assert res.returncode == 0, res.stderr
    assert "examples.counter.service:Counter -> examples.counter.v2:CounterV2" in res.stdout
    with httpx.Client(timeout=30) as c:
        info = c.post(f"{run.url}/Front/info").json()
        assert (info["impl"], info["pid"]) == ("CounterV2", counter_pid)
        assert c.post(f"{run.url}/Front/get", json="m").json() == 6
    res = reverie("swap", f"{nats}#examples/Counter", "--to", "examples.counter.service:Counter")
    assert res.returncode == 1
    assert "version 2 is unknown here" in res.stderr and "keeps serving" in res.stderr
    run.signal(signal.SIGTERM)
    assert run.wait(30) == 0
