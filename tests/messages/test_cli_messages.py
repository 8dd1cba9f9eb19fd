"""CLI messages (issue 10, part 3): real ``reverie`` subprocesses, one-line errors with hints."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from reverie import Host, attach_runtime
from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.natsserver import NatsServer

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reverie.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_version() -> None:
    from reverie import __version__

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout == f"reverie {__version__}\n"


def test_a_port_out_of_range_is_one_line() -> None:
    proc = cli("serve", "tests.messages.notes:Notes", "--port", "99999")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: --port 99999: a port is a number from 0 to 65535 (0: any free port)\n"
    )


def test_dotted_and_file_targets_get_a_hint() -> None:
    proc = cli("serve", "tests.messages.notes.Notes", "--dry-run")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.endswith("did you mean tests.messages.notes:Notes?\n")
    proc = cli("blueprint", "tests/messages/notes.py:Notes")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: 'tests/messages/notes.py:Notes' is not MODULE:CLASS (for example "
        "'examples.hello.graph:Frontend'); did you mean tests.messages.notes:Notes?\n"
    )
    proc = cli("blueprint", "tests.messages.notes.Notes")
    assert proc.stderr.endswith("did you mean tests.messages.notes:Notes?\n")


def test_a_mistyped_class_lists_the_module_services() -> None:
    expected = (
        "module 'tests.messages.notes' has no attribute 'Nots'; did you mean 'Notes'?; "
        "services in tests.messages.notes: Notes, Store"
    )
    proc = cli("serve", "tests.messages.notes:Nots", "--dry-run")
    assert proc.returncode == 2 and expected in proc.stderr
    proc = cli("blueprint", "tests.messages.notes:Nots")
    assert proc.returncode == 2 and proc.stderr == f"error: {expected}\n"


def test_dry_run_reports_the_config_errors_serve_would() -> None:
    proc = cli(
        "serve", "tests.messages.notes:Notes", "--dry-run", env={"REVERIE_NOTES__PAGESIZE": "3"}
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "error: Notes (from env REVERIE_NOTES__PAGESIZE): environment variable "
        "REVERIE_NOTES__PAGESIZE matches no config key of Notes; did you mean "
        "'REVERIE_NOTES__PAGE_SIZE'?"
    )
    proc = cli(
        "serve", "tests.messages.notes:Notes", "--dry-run", env={"REVERIE_NOTES__PAGE_SIZE": "many"}
    )
    assert proc.returncode == 2
    assert "Notes.page_size (from env REVERIE_NOTES__PAGE_SIZE): expected int, got str 'many'" in (
        proc.stderr
    )
    proc = cli(
        "serve", "tests.messages.notes:Notes", "--dry-run", env={"REVERIE_NOTES__PAGE_SIZE": "3"}
    )
    assert proc.returncode == 0, proc.stderr


async def test_call_over_nats_with_a_mistyped_service_answers_at_once() -> None:
    from tests.messages.notes import Notes

    server = NatsServer()
    await server.start()
    rt = await DistributedRuntime.connect(server.url)
    host = Host(env={})
    try:
        await attach_runtime(host, rt)
        await host.start(Notes)
        proc = await asyncio.to_thread(
            cli, "call", f"{server.url}#notes/Nots", "count", "--timeout", "30"
        )
        assert proc.returncode == 1
        assert proc.stderr == (
            f"error: {server.url}#notes/Nots: nothing is registered as notes/Nots; did you mean "
            "'notes/Notes'?; registered: notes/Notes\n"
        )
        proc = await asyncio.to_thread(cli, "call", f"{server.url}#notes/Notes", "cont")
        assert proc.returncode == 1
        assert proc.stderr == (
            "error: notes/Notes has no endpoint 'cont'; did you mean 'count'?; endpoints: count\n"
        )
        proc = await asyncio.to_thread(cli, "call", f"{server.url}#notes/Notes", "count")
        assert proc.returncode == 0 and proc.stdout == "10\n"
    finally:
        await host.stop()
        await rt.close()
        await server.stop()
        server.cleanup()


async def test_the_stored_blueprint_and_ls_show_the_deployment_namespace() -> None:
    import json

    from reverie._private.config.deployment import parse_deployment
    from tests.messages.notes import Notes

    server = NatsServer()
    await server.start()
    rt = await DistributedRuntime.connect(server.url)
    dep = parse_deployment("Notes:\n  runtime:\n    namespace: prod\n", "deploy.yaml")
    host = Host(env={}, deployment=dep)
    try:
        await attach_runtime(host, rt)
        await host.start(Notes)
        stored = await rt.get_blueprint("prod", "Notes")
        assert stored is not None and json.loads(stored)["namespace"] == "prod"
        assert await rt.get_blueprint("notes", "Notes") is None  # not the decorator's namespace
        proc = await asyncio.to_thread(cli, "ls", server.url, "--json")
        assert proc.returncode == 0, proc.stderr
        assert {r["namespace"] for r in json.loads(proc.stdout)} == {"prod"}
    finally:
        await host.stop()
        await rt.close()
        await server.stop()
        server.cleanup()
