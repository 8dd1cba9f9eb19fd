"""Operating a running deployment: ``reverie call`` and ``reverie ls``.

``call`` targets ``http://HOST:PORT/<service>`` (POST to the endpoint, streams read as NDJSON) or
``nats://HOST:PORT#<namespace>/<component>`` (through the distributed runtime). ``ls`` asks a host
(``GET /@host/services`` with the API key) or NATS (the workers KV bucket).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..redact import shown_url
from .common import fail

if TYPE_CHECKING:
    from reverie._private.runtime import DistributedRuntime

__all__ = ["register"]

_TIMEOUT = 30.0


def _echo(item: Any) -> None:
    typer.echo(json.dumps(item, ensure_ascii=False, default=str))


def _parse_data(data: str | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        fail(f"--data is not valid JSON: {exc}")


def _problem(status: int, body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return f"HTTP {status}: {body.decode(errors='replace')[:300]}"
    if isinstance(doc, dict):
        detail = doc.get("detail") or doc.get("message") or doc.get("title") or doc
        return f"HTTP {status}: {detail}"
    return f"HTTP {status}: {doc}"


async def _call_http(url: str, endpoint: str, data: Any, timeout: float, key: str | None) -> int:
    import httpx

    headers = {"accept": "application/x-ndjson", "x-reverie-timeout": str(timeout)}
    if key:
        headers["authorization"] = f"Bearer {key}"
    full = url.rstrip("/") + "/" + endpoint
    body = b"" if data is None else json.dumps(data).encode()
    try:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=5.0)) as client,
            client.stream(
                "POST", full, content=body, headers={**headers, "content-type": "application/json"}
            ) as resp,
        ):
            if resp.status_code >= 400:
                fail(_problem(resp.status_code, await resp.aread()), code=1)
            ctype = resp.headers.get("content-type", "")
            if "ndjson" not in ctype:
                raw = await resp.aread()
                try:
                    _echo(json.loads(raw) if raw.strip() else None)
                except ValueError:
                    typer.echo(raw.decode(errors="replace"))
                return 0
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if isinstance(item, dict) and "@error" in item:
                    err = item["@error"]
                    fail(
                        f"the stream ended with an error: {err.get('message')} [{err.get('code')}]",
                        code=1,
                    )
                _echo(item)
    except httpx.HTTPError as exc:
        fail(f"cannot call {full}: {type(exc).__name__}: {exc}", code=1)
    return 0


def _split_nats(target: str) -> tuple[str, str, str]:
    url, _, frag = target.partition("#")
    ns, _, comp = frag.partition("/")
    if not ns or not comp:
        fail(f"{target!r}: a NATS target is nats://HOST:PORT#NAMESPACE/COMPONENT")
    return url, ns, comp


async def _connect(url: str) -> DistributedRuntime:
    """The runtime at ``url``; when it cannot be reached the command ends with why (exit 1)."""
    from reverie._private.runtime import DistributedRuntime
    from reverie.errors import ReverieError

    try:
        return await DistributedRuntime.connect(url)
    except ReverieError as exc:
        fail(str(exc), code=1)


async def _registrations(rt: DistributedRuntime) -> list[dict[str, Any]]:
    """Every registration on ``rt``; when the bucket cannot be read the command ends with why
    (exit 1), never with an empty list."""
    from reverie.errors import ReverieError

    try:
        return await rt.registrations()
    except ReverieError as exc:
        fail(str(exc), code=1)


def _check_registered(
    target: str, known: list[dict[str, Any]], ns: str, comp: str, endpoint: str
) -> None:
    """Fail at once, from the registrations, when nothing serves ``ns/comp`` (or its endpoint),
    rather than waiting for a worker that is not coming. An empty bucket may mean the graph
    is still starting, so the caller waits then."""
    from reverie._private.suggest import did_you_mean

    here = {f"{r.get('namespace')}/{r.get('component')}" for r in known}
    if f"{ns}/{comp}" not in here:
        fail(
            f"{target}: nothing is registered as {ns}/{comp}{did_you_mean(f'{ns}/{comp}', here)}; "
            f"registered: {', '.join(sorted(here))}",
            code=1,
        )
    from reverie._private.runtime.features import FEATURES_ENDPOINT

    eps = sorted(
        {
            str(r.get("endpoint"))
            for r in known
            if r.get("namespace") == ns
            and r.get("component") == comp
            and r.get("endpoint") != FEATURES_ENDPOINT  # its HTTP features, not an endpoint
        }
    )
    if endpoint not in eps:
        fail(
            f"{ns}/{comp} has no endpoint {endpoint!r}{did_you_mean(endpoint, eps)}; "
            f"endpoints: {', '.join(eps)}",
            code=1,
        )


async def _call_nats(target: str, endpoint: str, data: Any, timeout: float) -> int:
    from reverie._private.call.context import new_context
    from reverie.errors import CallError

    url, ns, comp = _split_nats(target)
    rt = await _connect(url)
    try:
        known = await _registrations(rt)
        if known:
            _check_registered(target, known, ns, comp, endpoint)
        client = rt.namespace(ns).component(comp).endpoint(endpoint).client()
        try:
            await client.wait_for_workers(1, timeout=min(timeout, 10.0))
        except CallError as exc:
            fail(f"{exc}", code=1)
        entries = client.registrations()
        streaming = bool(entries and entries[0].get("streaming"))
        ctx = new_context(timeout)
        try:
            if streaming:
                async for item in client.stream(data, ctx):
                    _echo(item)
            else:
                _echo(await client.call(data, ctx))
        except CallError as exc:
            fail(str(exc), code=1)
    finally:
        await rt.close()
    return 0


def call_cmd(
    target: Annotated[
        str,
        typer.Argument(
            help="http://HOST:PORT/<service> or nats://HOST:PORT#<namespace>/<component>."
        ),
    ],
    endpoint: Annotated[str, typer.Argument(help="The endpoint to call.")],
    data: Annotated[str | None, typer.Option(help="The request, as JSON.")] = None,
    timeout: Annotated[float, typer.Option(help="Deadline of the call, in seconds.")] = _TIMEOUT,
    key: Annotated[
        str | None, typer.Option(help="API key for HTTP targets (default: $REVERIE_API_KEY).")
    ] = None,
) -> None:
    """Call an endpoint of a running deployment; a stream prints one JSON value per line."""
    request = _parse_data(data)
    if target.startswith(("http://", "https://")):
        code = asyncio.run(
            _call_http(target, endpoint, request, timeout, key or os.environ.get("REVERIE_API_KEY"))
        )
    elif target.startswith(("nats://", "tls://")):
        code = asyncio.run(_call_nats(target, endpoint, request, timeout))
    else:
        fail(f"{target!r} is neither an http:// nor a nats:// target")
    raise typer.Exit(code)


# -- ls -------------------------------------------------------------------------------------------


async def _ls_http(url: str, key: str | None) -> list[dict[str, Any]]:
    import httpx

    headers = {"authorization": f"Bearer {key}"} if key else {}
    full = url.rstrip("/") + "/@host/services"
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            resp = await client.get(full, headers=headers)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {full}: {type(exc).__name__}: {exc}", code=1)
    if resp.status_code in (401, 403):
        fail(
            _problem(resp.status_code, resp.content)
            + " (pass the host's API key with --key or $REVERIE_API_KEY)",
            code=1,
        )
    if resp.status_code >= 400:
        fail(_problem(resp.status_code, resp.content), code=1)
    rows: list[dict[str, Any]] = resp.json()
    return rows


async def _ls_nats(url: str) -> list[dict[str, Any]]:
    from reverie._private.runtime.features import FEATURES_ENDPOINT

    rt = await _connect(url.partition("#")[0])
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    try:
        for reg in await _registrations(rt):
            row = rows.setdefault(
                (reg["namespace"], reg["component"], reg["worker"]),
                {
                    "namespace": reg["namespace"],
                    "component": reg["component"],
                    "worker": reg["worker"],
                    "host": reg.get("host"),
                    "pid": reg.get("pid"),
                    "endpoints": [],
                },
            )
            if reg["endpoint"] != FEATURES_ENDPOINT:  # its HTTP features, not an endpoint
                row["endpoints"].append(reg["endpoint"])
    finally:
        await rt.close()
    return [rows[k] for k in sorted(rows)]


def ls_cmd(
    url: Annotated[
        str, typer.Argument(help="A host (http://HOST:PORT) or a NATS server (nats://HOST:PORT).")
    ] = "http://127.0.0.1:8000",
    key: Annotated[
        str | None, typer.Option(help="API key for a host (default: $REVERIE_API_KEY).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the live services of a host, or the workers of a NATS deployment."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if url.startswith(("nats://", "tls://")):
        rows = asyncio.run(_ls_nats(url))
        cols = ["namespace", "component", "worker", "host", "pid", "endpoints"]
    elif url.startswith(("http://", "https://")):
        rows = asyncio.run(_ls_http(url, key or os.environ.get("REVERIE_API_KEY")))
        cols = ["path", "name", "namespace", "state", "uptime", "class", "error"]
    else:
        fail(f"{url!r} is neither an http:// nor a nats:// URL")
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=Text(f"{len(rows)} live at {shown_url(url)}"), title_justify="left")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(
            *(
                Text(
                    ", ".join(map(str, v))
                    if isinstance(v, list)
                    else ("-" if v is None else str(v))
                )
                for v in (r.get(c) for c in cols)
            )
        )
    Console(highlight=False, soft_wrap=True).print(table)


def register(app: typer.Typer) -> None:
    """Add ``call`` and ``ls`` to ``app``."""
    app.command("call")(call_cmd)
    app.command("ls")(ls_cmd)
