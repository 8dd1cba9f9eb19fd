"""The load generator every server in bench_peers.py gets, and its ceiling.

Sequential: one keep-alive connection, one request at a time (latency percentiles). Concurrent:
``in_flight`` loops, each on its own keep-alive connection, bounded in count and time.
``serve_bare`` is a bare ASGI callable on uvicorn giving the same answer: what this load
generator can reach at all on the machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

BODY = {"text": "hello"}
EXPECT = {"text": "HELLO"}
PAYLOAD = json.dumps(BODY).encode()
HEADERS = {"content-type": "application/json"}
CONCURRENCY = 32


def _post(client: Any, url: str) -> str:
    """One request through the graph: '' when it answered 200, else what went wrong."""
    import httpx

    try:
        resp = client.post(url, content=PAYLOAD, headers=HEADERS)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "" if resp.status_code == 200 else f"HTTP {resp.status_code}: {resp.text[:200]}"


def sequential(url: str, n: int, seconds: float) -> dict[str, Any]:
    """One keep-alive connection, one request at a time: latency percentiles in ms."""
    import httpx

    lat: list[float] = []
    errors: list[str] = []
    with httpx.Client(timeout=10) as client:
        end = time.monotonic() + seconds
        while len(lat) + len(errors) < n and time.monotonic() < end:
            t = time.perf_counter()
            error = _post(client, url)
            if error:
                errors.append(error)
            else:
                lat.append((time.perf_counter() - t) * 1e3)
    lat.sort()
    out: dict[str, Any] = {"seq_n": float(len(lat)), "seq_errors": float(len(errors))}
    if errors:
        out["seq_first_error"] = errors[0]
    if lat:
        out.update(
            p50_ms=lat[len(lat) // 2],
            p99_ms=lat[min(len(lat) - 1, len(lat) * 99 // 100)],
            mean_ms=sum(lat) / len(lat),
        )
    return out


def concurrent(
    url: str, total: int, seconds: float, in_flight: int = CONCURRENCY
) -> dict[str, Any]:
    """``in_flight`` loops, each on its own keep-alive connection (one client each: httpx's
    shared pool collapses to ~300 req/s at 32 in flight), until ``total`` or ``seconds``."""

    async def run() -> dict[str, Any]:
        import httpx

        done = started = 0
        errors: list[str] = []
        clients = [
            httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=1))
            for _ in range(in_flight)
        ]
        try:
            t0 = time.perf_counter()
            end = time.monotonic() + seconds

            async def worker(client: httpx.AsyncClient) -> None:
                nonlocal done, started
                while started < total and time.monotonic() < end:
                    started += 1
                    try:
                        resp = await client.post(url, content=PAYLOAD, headers=HEADERS)
                        error = (
                            ""
                            if resp.status_code == 200
                            else (f"HTTP {resp.status_code}: {resp.text[:200]}")
                        )
                    except httpx.HTTPError as exc:
                        error = f"{type(exc).__name__}: {exc}"
                    if error:
                        errors.append(error)
                    else:
                        done += 1

            await asyncio.gather(*(worker(c) for c in clients))
            took = time.perf_counter() - t0
        finally:
            for c in clients:
                await c.aclose()
        out: dict[str, Any] = {
            "rps": done / took,
            "thr_n": float(done),
            "thr_errors": float(len(errors)),
            "thr_s": took,
        }
        if errors:
            out["thr_first_error"] = errors[0]
        return out

    try:
        import uvloop

        result: dict[str, Any] = uvloop.run(run())
    except ImportError:  # pragma: no cover - uvloop ships with Reverie's 'fast' extra
        result = asyncio.run(run())
    return result


def serve_bare(port: int) -> None:
    """The load generator's ceiling: a bare ASGI callable on uvicorn giving the same answer
    with no framework and no second service."""
    import uvicorn

    body = json.dumps(EXPECT).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
