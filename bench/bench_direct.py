"""The direct data plane between two processes, beside raw TCP, raw nats-py and the NATS path.

    python bench/bench_direct.py [--quick] [--json PATH]

A serving process (this script with ``--serve``) runs a raw asyncio TCP echo server, a raw
nats-py responder and a Reverie runtime serving ``echo`` and ``count``; this process calls each
of them in turn, in short alternating blocks, so drift on a shared machine hits all alike:

- raw TCP: length-prefixed request/response over one loopback connection (asyncio Protocol)
- raw nats-py: ``request()`` / a reply inbox, through the same nats-server
- Reverie direct: the default between processes (a Unix socket here, as on one machine)
- Reverie over NATS: the same runtime with ``direct=False`` (the path before the direct plane)
- Reverie over NATS as on issue 14's day: the same, its stream with that day's credit window
  (64 items): the "stream items/s >= 2x today" target's baseline in this run (the NATS path
  has since got its own wider window and faster producer, so it is no longer "today")
- raw Unix socket stream: a handler's async generator packed 128 items a frame (one msgpack
  call each) to an ``async for`` on the caller, over one Unix socket (the direct plane's stream
  with nothing of Reverie's: no credit, sequence numbers, context or errors)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import struct
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import concurrent, sequential, stream_rate  # noqa: E402  (bench/measure.py)

from reverie._private.runtime import DistributedRuntime  # noqa: E402
from reverie._private.runtime.natsserver import NatsServer  # noqa: E402
from reverie._private.runtime.produce import MAX_BATCH_ITEMS  # noqa: E402
from reverie._private.transports.codec import msgpack_decode, msgpack_encode  # noqa: E402

PAYLOAD = {"id": 7, "name": "bench", "values": [1, 2, 3], "ok": True}
STREAM_ITEMS = 1000
#: the stream credit window of issue 14's day (it had no byte window)
ISSUE_DAY_WINDOW = 64
DEFAULT_JSON = ROOT / "bench" / "results" / "direct.json"
_LEN = struct.Struct(">I")


class _Framed(asyncio.Protocol):
    """Length-prefixed frames over a stream socket; the raw TCP baseline on both ends."""

    def __init__(self, on_frame: Callable[[_Framed, bytes], None]) -> None:
        self.on_frame = on_frame
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        import socket

        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 4:
            (n,) = _LEN.unpack_from(buf)
            if len(buf) < 4 + n:
                break
            frame = bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            self.on_frame(self, frame)

    def send(self, frame: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_LEN.pack(len(frame)) + frame)


async def serve(url: str) -> None:
    """The serving process: raw TCP echo, raw nats-py echo/stream, Reverie echo/count."""
    import nats

    loop = asyncio.get_running_loop()
    tcp = await loop.create_server(lambda: _Framed(lambda p, f: p.send(f)), "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    nc = await nats.connect(url)

    async def echo_raw(msg: Any) -> None:
        await msg.respond(msg.data)

    await nc.subscribe("raw.echo", cb=echo_raw)
    await nc.flush()
    rt = await DistributedRuntime.connect(url, direct=True)
    comp = rt.namespace("bench").component("direct")

    async def echo(req: Any, ctx: Any) -> Any:
        return req

    async def count(req: int, ctx: Any) -> Any:
        for i in range(req):
            yield i

    await comp.endpoint("echo").serve(echo, streaming=False)
    await comp.endpoint("count").serve(count, streaming=True, request_type=int)

    async def numbers(n: int) -> AsyncIterator[int]:  # the handler, as Reverie's side has it
        for i in range(n):
            yield i

    async def stream_raw(p: _Framed, n: int) -> None:
        batch: list[int] = []
        async for item in numbers(n):
            batch.append(item)
            if len(batch) == MAX_BATCH_ITEMS:
                p.send(msgpack_encode(batch))
                batch = []
        if batch:
            p.send(msgpack_encode(batch))
        p.send(b"")

    def on_stream(p: _Framed, frame: bytes) -> None:
        task = loop.create_task(stream_raw(p, msgpack_decode(frame)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    tasks: set[asyncio.Task[None]] = set()
    uds_name = f"\0reverie-bench-{os.getpid()}"
    uds = await loop.create_unix_server(lambda: _Framed(on_stream), path=uds_name)
    print(f"READY {port} {uds_name[1:]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await rt.close()
    await nc.close()
    tcp.close()
    uds.close()


Call = Callable[[], Awaitable[Any]]


async def raw_tcp_client(port: int) -> Call:
    loop = asyncio.get_running_loop()
    waiting: list[asyncio.Future[bytes]] = []

    def on_frame(_: _Framed, frame: bytes) -> None:
        waiting.pop(0).set_result(frame)

    _, proto = await loop.create_connection(lambda: _Framed(on_frame), "127.0.0.1", port)
    data = msgpack_encode(PAYLOAD)

    async def call() -> Any:
        fut = loop.create_future()
        waiting.append(fut)
        proto.send(data)
        return await fut

    return call


async def raw_uds_stream(name: str) -> Callable[[], Awaitable[int]]:
    """One stream at a time over a Unix socket: items handed to an ``async for``."""
    loop = asyncio.get_running_loop()
    buf: deque[Any] = deque()
    wake: list[asyncio.Future[None]] = []
    ended = [False]

    def on_frame(_: _Framed, frame: bytes) -> None:
        if frame:
            buf.extend(msgpack_decode(frame))
        else:
            ended[0] = True
        if wake:
            wake.pop().set_result(None)

    _, proto = await loop.create_unix_connection(lambda: _Framed(on_frame), path="\0" + name)

    async def received() -> AsyncIterator[Any]:
        while True:
            while buf:
                yield buf.popleft()
            if ended[0]:
                return
            fut = loop.create_future()
            wake.append(fut)
            await asyncio.wait_for(fut, 10)

    async def stream() -> int:
        ended[0] = False
        proto.send(msgpack_encode(STREAM_ITEMS))
        n = 0
        async for _ in received():
            n += 1
        return n

    return stream


def _counting(counter: Any) -> Callable[[], Awaitable[int]]:
    """One stream of ``STREAM_ITEMS`` from ``counter``, its items counted by an ``async for``."""

    async def stream() -> int:
        n = 0
        async for _ in counter.stream(STREAM_ITEMS):
            n += 1
        return n

    return stream


async def measure(
    url: str, port: int, uds: str, blocks: int, n_seq: int, n_conc: int, rounds: int
) -> dict[str, dict[str, float]]:
    import nats

    nc = await nats.connect(url)
    data = msgpack_encode(PAYLOAD)

    async def raw_nats() -> Any:
        return await nc.request("raw.echo", data, timeout=5)

    direct_rt = await DistributedRuntime.connect(url, direct=True)
    nats_rt = await DistributedRuntime.connect(url, direct=False)
    calls: dict[str, Call] = {"raw_tcp": await raw_tcp_client(port), "raw_nats": raw_nats}
    streams: dict[str, Callable[[], Awaitable[int]]] = {"raw_uds": await raw_uds_stream(uds)}
    for name, rt in (("direct", direct_rt), ("nats_path", nats_rt)):
        comp = rt.namespace("bench").component("direct")
        echo = comp.endpoint("echo").client()
        counter = comp.endpoint("count").client()
        await echo.wait_for_workers(1, 10)
        await counter.wait_for_workers(1, 10)

        async def call(echo: Any = echo) -> Any:
            return await echo.call(PAYLOAD)

        calls[name], streams[name] = call, _counting(counter)
        if name == "nats_path":
            # issue 14's day: the NATS path's stream with that day's credit window (64 items)
            day = comp.endpoint("count").client(window=ISSUE_DAY_WINDOW)
            await day.wait_for_workers(1, 10)
            streams["issue_day"] = _counting(day)
    assert direct_rt.direct is not None
    await calls["direct"]()
    assert direct_rt.direct.links, "the direct caller did not open a direct link"
    lat: dict[str, list[float]] = {k: [] for k in calls}
    rps: dict[str, list[float]] = {k: [] for k in calls if k != "raw_tcp"}
    srate: dict[str, list[float]] = {k: [] for k in streams}
    for _ in range(blocks):
        for name, fn in calls.items():
            lat[name] += await sequential(fn, n_seq)
            if name in rps:
                rps[name].append(await concurrent(fn, n_conc))
        for name, sfn in streams.items():
            srate[name].append(await stream_rate(sfn, rounds))
    await direct_rt.close()
    await nats_rt.close()
    await nc.close()
    out: dict[str, dict[str, float]] = {"raw_uds": {}, "issue_day": {}}
    for name in calls:
        out[name] = {"p50_us": statistics.median(lat[name]) * 1e6}
        if name in rps:
            out[name]["rps_32"] = statistics.median(rps[name])
        if name in srate:
            out[name]["stream_items_per_s"] = statistics.median(srate[name])
    for name in ("raw_uds", "issue_day"):
        out[name]["stream_items_per_s"] = statistics.median(srate[name])
    return out


def rows(m: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    d = m["direct"]
    spec: list[tuple[str, float, float, str, str, str, Callable[[float], bool] | None]] = [
        (
            "direct: unary p50, sequential",
            d["p50_us"],
            m["raw_tcp"]["p50_us"],
            "raw TCP",
            "us",
            "<= 2x raw",
            lambda r: r <= 2.0,
        ),
        (
            "direct: unary p50, sequential",
            d["p50_us"],
            m["raw_nats"]["p50_us"],
            "raw nats-py",
            "us",
            "<= 0.5x raw",
            lambda r: r <= 0.5,
        ),
        (
            "direct: unary calls/s, 32 in flight",
            d["rps_32"],
            m["raw_nats"]["rps_32"],
            "raw nats-py",
            "calls/s",
            ">= 1.5x raw",
            lambda r: r >= 1.5,
        ),
        (
            f"direct: {STREAM_ITEMS}-item stream, items/s",
            d["stream_items_per_s"],
            m["issue_day"]["stream_items_per_s"],
            "Reverie over NATS, issue 14's day: window 64",
            "items/s",
            ">= 2x that day",
            lambda r: r >= 2.0,
        ),
        (
            f"direct: {STREAM_ITEMS}-item stream, items/s",
            d["stream_items_per_s"],
            m["nats_path"]["stream_items_per_s"],
            "Reverie over NATS now",
            "items/s",
            "",
            None,
        ),
        (
            f"direct: {STREAM_ITEMS}-item stream, items/s",
            d["stream_items_per_s"],
            m["raw_uds"]["stream_items_per_s"],
            "raw Unix socket stream",
            "items/s",
            "",
            None,
        ),
        (
            "NATS path: unary p50, sequential",
            m["nats_path"]["p50_us"],
            m["raw_nats"]["p50_us"],
            "raw nats-py",
            "us",
            "",
            None,
        ),
        (
            "NATS path: unary calls/s, 32 in flight",
            m["nats_path"]["rps_32"],
            m["raw_nats"]["rps_32"],
            "raw nats-py",
            "calls/s",
            "",
            None,
        ),
    ]
    out = []
    for name, rev, base, base_name, unit, target, ok in spec:
        ratio = rev / base
        out.append(
            {
                "name": name,
                "reverie": round(rev, 1),
                "baseline": round(base, 1),
                "baseline_name": base_name,
                "unit": unit,
                "ratio": round(ratio, 2),
                "target": target,
                "ok": None if ok is None else ok(ratio),
            }
        )
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        await serve(args.serve)
        return
    blocks, n_seq, n_conc, rounds = (2, 300, 1600, 2) if args.quick else (6, 1000, 6400, 5)
    started = time.perf_counter()
    async with NatsServer() as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            server.url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None and proc.stdin is not None
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            if not line.startswith("READY "):
                raise SystemExit(f"the serving process did not start: {line!r}")
            _, port, uds = line.split()
            m = await measure(server.url, int(port), uds, blocks, n_seq, n_conc, rounds)
        finally:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
    table = rows(m)
    print(
        f"\nReverie direct data plane, two processes ({platform.python_version()}, "
        f"{os.cpu_count()} cpus, {'quick' if args.quick else 'full'} run)\n"
    )
    print(f"{'measure':40} {'reverie':>10} {'baseline':>10} {'':18} {'ratio':>6}  target")
    for r in table:
        verdict = "" if r["ok"] is None else f"{r['target']} {'ok' if r['ok'] else 'MISSED'}"
        print(
            f"{r['name']:40} {r['reverie']:10.1f} {r['baseline']:10.1f} "
            f"{r['baseline_name']:18} {r['ratio']:6.2f}  {verdict}"
        )
    results = {
        "raw": m,
        "rows": table,
        "quick": args.quick,
        "elapsed_s": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json} ({results['elapsed_s']:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
