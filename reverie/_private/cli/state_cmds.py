"""Operating on service state: ``reverie state save|load``, ``reverie swap`` and
``reverie migrate``, all through a host's private management API (API key from ``--key`` or
``$REVERIE_API_KEY``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import fail

__all__ = ["register"]

_KEY_HELP = "API key of the host (default: $REVERIE_API_KEY)."


def _request(
    method: str, url: str, key: str | None, body: Any = None, timeout: float = 60.0
) -> Any:
    import httpx

    headers = {"authorization": f"Bearer {key}"} if key else {}
    try:
        resp = httpx.request(method, url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        fail(f"{method} {url}: {type(exc).__name__}: {exc}", code=1)
    if resp.status_code >= 400:
        from .ops_cmds import _problem

        hint = ""
        if resp.status_code in (401, 403):
            hint = " (pass the host's API key with --key or $REVERIE_API_KEY)"
        fail(f"{method} {url}: {_problem(resp.status_code, resp.content)}{hint}", code=1)
    return resp.json()


def _base(url: str) -> str:
    return url.rstrip("/")


def save_cmd(
    url: Annotated[str, typer.Argument(help="The instance: http://HOST:PORT/<path>.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    key: Annotated[str | None, typer.Option(help=_KEY_HELP)] = None,
) -> None:
    """Capture an instance's state (GET @state, taken between requests) as JSON."""
    doc = _request("GET", f"{_base(url)}/@state", key or os.environ.get("REVERIE_API_KEY"))
    text = json.dumps(doc, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(
            f"saved {doc.get('service')} state {doc.get('name')!r} version "
            f"{doc.get('version')} to {output}",
            err=True,
        )


def load_cmd(
    url: Annotated[str, typer.Argument(help="The host: http://HOST:PORT.")],
    file: Annotated[
        Path, typer.Argument(help="A state document ('reverie state save'); - for stdin.")
    ],
    path: Annotated[
        str | None, typer.Option(help="Mount path (default: the service name).")
    ] = None,
    cls: Annotated[
        str | None,
        typer.Option(
            "--class", help="module:Class or service name (default: the captured service)."
        ),
    ] = None,
    sid: Annotated[
        str | None, typer.Option(help="Start the implementation bound to a SID.")
    ] = None,
    config: Annotated[str | None, typer.Option(help="Config values, as a JSON object.")] = None,
    key: Annotated[str | None, typer.Option(help=_KEY_HELP)] = None,
) -> None:
    """Start a new instance from a captured state (POST /@host/services with "state")."""
    raw = sys.stdin.read() if str(file) == "-" else _read(file)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        fail(f"{file} is not JSON: {exc}")
    if not isinstance(doc, dict):
        fail(f"{file} is not a state document (a JSON object)")
    spec: dict[str, Any] = {"state": doc}
    if sid:
        spec["sid"] = sid
    else:
        spec["class"] = cls or str(doc.get("service", ""))
    if path:
        spec["path"] = path
    if config:
        try:
            spec["config"] = json.loads(config)
        except ValueError as exc:
            fail(f"--config is not valid JSON: {exc}")
    about = _request(
        "POST", f"{_base(url)}/@host/services", key or os.environ.get("REVERIE_API_KEY"), spec
    )
    typer.echo(json.dumps(about))


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")


def swap_cmd(
    url: Annotated[
        str,
        typer.Argument(
            help="The host: http://HOST:PORT, or nats://HOST:PORT#<namespace>/<component> to swap "
            "in whichever process serves it."
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            help="The new implementation: module:Class, a registered service name, or a SID."
        ),
    ],
    path: Annotated[
        str | None, typer.Argument(help="Mount path of the instance to swap (HTTP hosts).")
    ] = None,
    config: Annotated[str | None, typer.Option(help="Config values, as a JSON object.")] = None,
    key: Annotated[str | None, typer.Option(help=_KEY_HELP)] = None,
) -> None:
    """Swap the implementation behind a mounted instance live; its state moves over."""
    body: dict[str, Any] = {"sid" if to.startswith("sid://") else "class": to}
    if config:
        try:
            body["config"] = json.loads(config)
        except ValueError as exc:
            fail(f"--config is not valid JSON: {exc}")
    if url.startswith("nats://"):
        import asyncio

        raise typer.Exit(asyncio.run(_swap_nats(url, to, body.get("config"))))
    if path is None:
        fail("name the mount path of the instance to swap: reverie swap URL PATH --to ...")
    about = _request(
        "PUT",
        f"{_base(url)}/@host/services/{path.strip('/')}",
        key or os.environ.get("REVERIE_API_KEY"),
        body,
    )
    swapped = about.get("swapped", {})
    typer.echo(
        f"{about.get('path')}: {swapped.get('from')} -> {swapped.get('to')} "
        f"({about.get('class')}), {about.get('state')}"
    )


def register(app: typer.Typer) -> None:
    state_app = typer.Typer(help="Capture and restore service state.", no_args_is_help=True)
    state_app.command("save")(save_cmd)
    state_app.command("load")(load_cmd)
    app.add_typer(state_app, name="state")
    app.command("swap")(swap_cmd)
    app.command("migrate")(migrate_cmd)


async def _swap_nats(target: str, to: str, config: Any) -> int:
    from reverie._private.state.migrate import request_swap

    from .ops_cmds import _connect, _registrations, _split_nats

    url, ns, comp = _split_nats(target)
    rt = await _connect(url)
    try:
        regs = await _registrations(rt)
        serving = _serving(regs, ns, comp)
        if not serving:
            fail(f"no process serves {ns}/{comp} on {url}", code=1)
        answers = [await request_swap(rt, ns, comp, iid, to, config) for iid in serving]
    finally:
        await rt.close()
    errors = [a["error"] for a in answers if "error" in a]
    for a in answers:
        if "error" not in a:
            typer.echo(f"{ns}/{comp} ({a['swapped']}): {a['from']} -> {a['to']}")
    if errors:
        fail("; ".join(errors), code=1)
    return 0


def migrate_cmd(
    target: Annotated[
        str, typer.Argument(help="nats://HOST:PORT#<namespace>/<component>: the instance to move.")
    ],
    to: Annotated[
        str,
        typer.Option(
            help="The destination process: a worker id, "
            "pid:<PID>, or <namespace>/<component> of a service "
            "it runs (see 'reverie ls nats://...')."
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--from", help="The source worker id, when several processes serve the component."
        ),
    ] = None,
) -> None:
    """Move an instance to another process over the runtime: drain, capture, restore, switch."""
    import asyncio

    from .ops_cmds import _split_nats

    url, ns, comp = _split_nats(target)
    code = asyncio.run(_migrate(url, ns, comp, to, source))
    raise typer.Exit(code)


async def _migrate(url: str, ns: str, comp: str, to: str, source: str | None) -> int:
    from reverie._private.state.migrate import discover_hosts, request_migration
    from reverie.errors import ReverieError

    from .ops_cmds import _connect

    rt = await _connect(url)
    try:
        regs = await rt.registrations()
        serving = _serving(regs, ns, comp)
        if source is None:
            if len(serving) != 1:
                fail(
                    f"{ns}/{comp} is served by {len(serving)} processes "
                    f"({', '.join(serving) or 'none'}); name one with --from",
                    code=1,
                )
            source = serving[0]
        elif source not in serving:
            fail(
                f"{source} does not serve {ns}/{comp} (served by: {', '.join(serving) or 'none'})",
                code=1,
            )
        dest = _destination(regs, to, await discover_hosts(rt) if to.startswith("pid:") else [])
        answer = await request_migration(rt, ns, comp, source, dest)
    except ReverieError as exc:
        fail(str(exc), code=1)
    finally:
        await rt.close()
    if "error" in answer:
        fail(str(answer["error"]), code=1)
    typer.echo(
        f"{ns}/{comp}: migrated from {answer['from']} to {answer['to']} (new calls "
        f"held {answer.get('held_ms')} ms)"
    )
    return 0


def _serving(regs: list[dict[str, Any]], ns: str, comp: str) -> list[str]:
    """The workers (processes) that serve ``ns/comp``, sorted."""
    return sorted({r["worker"] for r in regs if (r["namespace"], r["component"]) == (ns, comp)})


def _destination(regs: list[dict[str, Any]], to: str, hosts: list[dict[str, Any]]) -> str:
    if to.startswith("pid:"):
        found = {h["worker"] for h in hosts if str(h.get("pid")) == to[4:]}
    elif "/" in to:
        ns, _, comp = to.partition("/")
        found = {r["worker"] for r in regs if (r["namespace"], r["component"]) == (ns, comp)}
    else:
        return to
    if len(found) != 1:
        fail(
            f"--to {to} names {len(found)} processes ({', '.join(sorted(found)) or 'none'}); "
            f"give a worker id",
            code=1,
        )
    return str(found.pop())
