"""``reverie.serve(Entry, ServeOptions(...))``: the programmatic form of ``reverie serve``.

The CLI fills a ``ServeOptions`` from its flags; a program builds one and gets the same checks,
the same plan and the same run (here in a subprocess, stopped by SIGTERM).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from reverie import ServeOptions, serve
from reverie.errors import ConfigError

from .conftest import ROOT, free_port


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ServeOptions(port=99999),
            "--port 99999: a port is a number from 0 to 65535 (0: any free port)",
        ),
        (ServeOptions(log_format="xml"), "--log-format 'xml': use text or json"),
        (ServeOptions(log_level="loud"), "--log-level 'loud': use debug, info, warning or error"),
        (ServeOptions(trace="jaeger"), "--trace 'jaeger': use console, otlp or none"),
    ],
)
def test_options_out_of_range_fail_before_anything_loads(
    options: ServeOptions, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        serve("tests.serve.no_such_module:Api", options)
    assert str(info.value) == message


def test_a_bad_target_fails_with_the_importer_message() -> None:
    with pytest.raises(ConfigError) as info:
        serve("tests.serve.svc_graph:Apx", ServeOptions(port=0))
    assert str(info.value).startswith(
        "module 'tests.serve.svc_graph' has no attribute 'Apx'; did you mean 'Api'?"
    )


def test_nats_replicas_out_of_range() -> None:
    from tests.serve.svc_graph import Api

    with pytest.raises(ConfigError, match=r"--nats-replicas 9: JetStream keeps 1 to 5 copies"):
        serve(Api, ServeOptions(port=0, nats_replicas=9))


def test_a_program_serves_its_graph_until_sigterm() -> None:
    port = free_port()
    code = (
        "import sys\n"
        "from reverie import ServeOptions, serve\n"
        "from tests.serve.svc_graph import Api\n"
        f"sys.exit(serve(Api, ServeOptions(port={port}, log_format='json')))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "ready":
                break
        else:
            raise AssertionError("serve() exited before ready:\n" + "".join(lines))
        rows = {r["service"]: r for r in event["services"]}
        assert set(rows) == {"Api", "Logic", "Store"}
        r = httpx.get(f"http://127.0.0.1:{port}/Api/pids", timeout=10)
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
