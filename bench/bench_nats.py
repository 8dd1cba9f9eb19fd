"""Reverie's NATS runtime side by side with raw nats-py, on the same nats-server, in one run.

    python bench/bench_nats.py [--quick]

Prints a table of Reverie vs raw figures with ratios and the issue's targets, and writes
bench/results/nats.json. Both sides run in this one process (server and caller on separate
connections), against an embedded loopback nats-server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
from measure import concurrent, sequential, stream_rate  # noqa: E402  (bench/measure.py)

from reverie._private.runtime import DistributedRuntime  # noqa: E402
from reverie._private.runtime.natsserver import NatsServer  # noqa: E402
from reverie._private.runtime.produce import MAX_BATCH_ITEMS  # noqa: E402
from reverie._private.runtime.wire import DEFAULT_WINDOW  # noqa: E402
from reverie._private.transports.codec import msgpack_decode, msgpack_encode  # noqa: E402

PAYLOAD = {"id": 7, "name": "bench", "values": [1, 2, 3], "ok": True}
STREAM_ITEMS = 1000
# The most items Reverie puts in one stream message: a BATCH frame holds up to 128, and no more
# than the caller's credit (the default window, 1,024 items). The raw sides pack as many, with
# no credit, and encode a message's items with one msgpack call, as Reverie does.
BATCH = min(MAX_BATCH_ITEMS, DEFAULT_WINDOW)


class Side:
    """One side of the comparison: a unary call and a 1,000-item stream, ready to run."""

    call: Callable[[], Awaitable[Any]]
    stream: Callable[[], Awaitable[int]]
    batched: Callable[[], Awaitable[int]] | None = None  # raw only: Reverie's batching
    generated: Callable[[], Awaitable[int]] | None = None  # raw only: the same, as a program
    close: Callable[[], Awaitable[None]]


async def raw_side(url: str) -> Side:
    srv = await nats.connect(url)
    cli = await nats.connect(url)
    data = msgpack_encode(PAYLOAD)

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    async def streamer(msg: Any) -> None:
        for i in range(STREAM_ITEMS):
            await srv.publish(msg.reply, msgpack_encode(i))
        await srv.publish(msg.reply, b"")

    async def batched(msg: Any) -> None:
        # Reverie's own batching: up to BATCH items a message, one msgpack array of them.
        for start in range(0, STREAM_ITEMS, BATCH):
            items = list(range(start, min(start + BATCH, STREAM_ITEMS)))
            await srv.publish(msg.reply, msgpack_encode(items))
        await srv.publish(msg.reply, b"")

    async def numbers(n: int) -> AsyncIterator[int]:  # the handler, as Reverie's side has it
        for i in range(n):
            yield i

    async def generated(msg: Any) -> None:
        # The least program doing what a Reverie stream does: a handler's async generator,
        # its items packed BATCH a message (no credit, no sequence numbers, no END count).
        batch: list[int] = []
        async for item in numbers(STREAM_ITEMS):
            batch.append(item)
            if len(batch) == BATCH:
                await srv.publish(msg.reply, msgpack_encode(batch))
                batch = []
        if batch:
            await srv.publish(msg.reply, msgpack_encode(batch))
        await srv.publish(msg.reply, b"")

    await srv.subscribe("raw.echo", cb=echo)
    await srv.subscribe("raw.stream", cb=streamer)
    await srv.subscribe("raw.batched", cb=batched)
    await srv.subscribe("raw.generated", cb=generated)
    await srv.flush()

    async def call() -> Any:
        return await cli.request("raw.echo", data, timeout=5)

    async def stream_of(subject: str, batch: bool) -> int:
        inbox = cli.new_inbox()
        done = asyncio.get_running_loop().create_future()
        count = 0

        async def on_msg(msg: Any) -> None:
            nonlocal count
            if not msg.data:
                done.set_result(None)
            elif batch:
                count += len(msgpack_decode(msg.data))  # decoded, as Reverie's client does
            else:
                msgpack_decode(msg.data)
                count += 1

        sub = await cli.subscribe(inbox, cb=on_msg)
        await cli.publish(subject, b"", reply=inbox)
        await asyncio.wait_for(done, 10)
        await sub.unsubscribe()
        return count

    async def one_stream() -> int:
        return await stream_of("raw.stream", False)

    async def one_batched() -> int:
        return await stream_of("raw.batched", True)

    async def one_generated() -> int:
        # ... and on the calling side an async iterator the caller runs ``async for`` over
        loop = asyncio.get_running_loop()
        buf: deque[Any] = deque()
        wake: list[asyncio.Future[None]] = []
        ended = False

        async def on_msg(msg: Any) -> None:
            nonlocal ended
            if msg.data:
                buf.extend(msgpack_decode(msg.data))
            else:
                ended = True
            if wake:
                wake.pop().set_result(None)

        async def received() -> AsyncIterator[Any]:
            while True:
                while buf:
                    yield buf.popleft()
                if ended:
                    return
                fut = loop.create_future()
                wake.append(fut)
                await asyncio.wait_for(fut, 10)

        inbox = cli.new_inbox()
        sub = await cli.subscribe(inbox, cb=on_msg)
        await cli.publish("raw.generated", b"", reply=inbox)
        count = 0
        async for _ in received():
            count += 1
        await sub.unsubscribe()
        return count

    async def close() -> None:
        await cli.close()
        await srv.close()

    side = Side()
    side.call, side.stream, side.close = call, one_stream, close
    side.batched = one_batched
    side.generated = one_generated
    await _until_ok(call)
    return side


async def reverie_side(url: str) -> Side:
    # direct=False: this bench measures the NATS path (bench_direct.py the direct plane)
    server = await DistributedRuntime.connect(url, direct=False)
    caller = await DistributedRuntime.connect(url, direct=False)
    comp = server.namespace("bench").component("svc")

    async def echo(req: Any, ctx: Any) -> Any:
        return req

    async def count(req: int, ctx: Any) -> Any:
        for i in range(req):
            yield i

    await comp.endpoint("echo").serve(echo, streaming=False)
    await comp.endpoint("count").serve(count, streaming=True, request_type=int)
    c_comp = caller.namespace("bench").component("svc")
    echo_client = c_comp.endpoint("echo").client()
    count_client = c_comp.endpoint("count").client()
    await echo_client.wait_for_workers(1, 5)
    await count_client.wait_for_workers(1, 5)

    async def call() -> Any:
        return await echo_client.call(PAYLOAD)

    async def one_stream() -> int:
        n = 0
        async for _ in count_client.stream(STREAM_ITEMS):
            n += 1
        return n

    async def close() -> None:
        await caller.close()
        await server.close()

    side = Side()
    side.call, side.stream, side.close = call, one_stream, close
    await _until_ok(call)
    return side


async def _until_ok(call: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(100):
        try:
            await call()
            return
        except Exception:
            await asyncio.sleep(0.02)
    await call()


async def compare(
    url: str, blocks: int, n_seq: int, n_conc: int, rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Alternate raw and Reverie in short blocks so machine drift hits both alike."""
    sides = {"raw": await raw_side(url), "reverie": await reverie_side(url)}
    lat: dict[str, list[float]] = {k: [] for k in sides}
    rps: dict[str, list[float]] = {k: [] for k in sides}
    srate: dict[str, list[float]] = {k: [] for k in sides}
    brate: list[float] = []
    grate: list[float] = []
    for _ in range(blocks):
        for name, side in sides.items():
            lat[name] += await sequential(side.call, n_seq)
            rps[name].append(await concurrent(side.call, n_conc))
            srate[name].append(await stream_rate(side.stream, rounds))
            if side.batched is not None:
                brate.append(await stream_rate(side.batched, rounds))
            if side.generated is not None:
                grate.append(await stream_rate(side.generated, rounds))
    for side in sides.values():
        await side.close()
    out = {}
    for name in sides:
        out[name] = {
            "p50_us": statistics.median(lat[name]) * 1e6,
            "p99_us": _p99(lat[name]) * 1e6,
            "rps_32": statistics.median(rps[name]),
            "stream_msgs_per_s": statistics.median(srate[name]),
        }
    # Reverie's stream beside three raw streams: the same batching (the like-for-like wire), the
    # same batching from a handler's generator to a caller's async for (the like-for-like
    # program) and one message per item (what a plain nats-py stream does).
    out["raw"]["stream_batched_per_s"] = statistics.median(brate)
    out["reverie"]["stream_batched_per_s"] = out["reverie"]["stream_msgs_per_s"]
    out["raw"]["stream_generated_per_s"] = statistics.median(grate)
    out["reverie"]["stream_generated_per_s"] = out["reverie"]["stream_msgs_per_s"]
    return out["raw"], out["reverie"]


async def bench_discovery(url: str, n: int) -> dict[str, float]:
    """n instances registered (as n processes would: one lease each) -> seen by a watcher."""
    watcher_rt = await DistributedRuntime.connect(url)
    reg = await DistributedRuntime.connect(url, lease_ttl=30.0)
    client = watcher_rt.namespace("disc").component("w").endpoint("ep").client()
    await client.wait_for_workers(0, 5)
    value = msgpack_encode({"instance": "x", "streaming": False, "idempotent": False})
    sem = asyncio.Semaphore(64)

    async def register(i: int) -> None:
        async with sem:
            await reg.leases.acquire(f"disc.w.ep.i{i:05d}", value)

    t0 = time.perf_counter()
    await asyncio.gather(*(register(i) for i in range(n)))
    t_reg = time.perf_counter() - t0
    await client.wait_for_workers(n, 10)
    t_live = time.perf_counter() - t0
    # A watcher that starts after the fact: the initial snapshot.
    cold_rt = await DistributedRuntime.connect(url)
    t1 = time.perf_counter()
    cold = cold_rt.namespace("disc").component("w").endpoint("ep").client()
    await cold.wait_for_workers(n, 10)
    t_cold = time.perf_counter() - t1
    await cold_rt.close()
    await reg.close()
    await watcher_rt.close()
    return {"instances": n, "register_s": t_reg, "visible_live_s": t_live, "visible_cold_s": t_cold}


_VICTIM = """
import asyncio, sys
from reverie._private.runtime import DistributedRuntime  # noqa: E402
async def main():
    rt = await DistributedRuntime.connect(sys.argv[1])
    async def ticks(req, ctx):
        i = 0
        while True:
            yield i
            i += 1
            await asyncio.sleep(0.01)
    await rt.namespace("bench").component("victim").endpoint("ticks").serve(ticks, streaming=True)
    print("READY", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def bench_failures(url: str, kills: int, cancels: int) -> dict[str, float]:
    """Time from closing an iterator to the producer's generator ending (same process), and
    from kill -9 of a serving process mid-stream to the caller's WorkerLostError."""
    from reverie.errors import WorkerLostError

    server = await DistributedRuntime.connect(url)
    caller = await DistributedRuntime.connect(url)
    ended: list[float] = []
    ended_event = asyncio.Event()

    async def ticks(req: Any, ctx: Any) -> Any:
        try:
            i = 0
            while True:
                yield i
                i += 1
                await asyncio.sleep(0.005)
        finally:
            ended.append(time.perf_counter())
            ended_event.set()

    await server.namespace("bench").component("c").endpoint("ticks").serve(ticks, streaming=True)
    client = caller.namespace("bench").component("c").endpoint("ticks").client()
    await client.wait_for_workers(1, 5)
    cancel_ms = []
    for _ in range(cancels):
        stream = client.stream(None)
        for _ in range(3):
            await stream.__anext__()
        ended_event.clear()
        t0 = time.perf_counter()
        await stream.aclose()
        await asyncio.wait_for(ended_event.wait(), 5)
        cancel_ms.append((ended[-1] - t0) * 1e3)
    victim = caller.namespace("bench").component("victim").endpoint("ticks").client()
    lost_ms = []
    root = str(ROOT)
    for _ in range(kills):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _VICTIM,
            url,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": root},
        )
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 20)
        await victim.wait_for_workers(1, 10)
        t0 = 0.0
        try:
            async for i in victim.stream(None):
                if i == 5:
                    proc.kill()
                    t0 = time.perf_counter()
        except WorkerLostError:
            lost_ms.append((time.perf_counter() - t0) * 1e3)
        await proc.wait()
        await victim.wait_for_workers(0, 1)
        caller.forget_suspects()
    await caller.close()
    await server.close()
    return {
        "cancel_p50_ms": statistics.median(cancel_ms),
        "cancel_max_ms": max(cancel_ms),
        "lost_p50_ms": statistics.median(lost_ms),
        "lost_max_ms": max(lost_ms),
        "kills": len(lost_ms),
    }


DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "nats.json"


def _p99(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def _write(results: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = ap.parse_args()
    blocks, n_seq, n_conc, rounds = (2, 200, 1600, 2) if args.quick else (6, 600, 6400, 5)
    started = time.perf_counter()
    async with NatsServer() as server:
        raw, rev = await compare(server.url, blocks, n_seq, n_conc, rounds)
        disc = await bench_discovery(server.url, 1000)
        fail = await bench_failures(server.url, 2 if args.quick else 3, 20)
    rows = [
        ("unary p50, sequential (us)", "p50_us", "<= 1.25x raw", lambda r: r <= 1.25),
        ("unary p99, sequential (us)", "p99_us", "", None),
        ("unary calls/s, 32 in flight", "rps_32", ">= 0.85x raw", lambda r: r >= 0.85),
        (
            f"{STREAM_ITEMS}-item stream, items/s (raw: same batching, <= {BATCH} a message)",
            "stream_batched_per_s",
            "",
            None,
        ),
        (
            # the target's row: the raw side does what a stream must (a handler's generator
            # stepped per item, each item handed to the caller's loop); the row above only
            # counts decoded items, so it measures the protocol, not the overhead
            f"{STREAM_ITEMS}-item stream, items/s (raw: generator to async for, same batching)",
            "stream_generated_per_s",
            ">= 0.8x raw",
            lambda r: r >= 0.8,
        ),
        (
            f"{STREAM_ITEMS}-item stream, items/s (raw: one message per item)",
            "stream_msgs_per_s",
            "",
            None,
        ),
    ]
    print(
        f"\nReverie NATS runtime vs raw nats-py ({platform.python_version()}, "
        f"{os.cpu_count()} cpus)\n"
    )
    print(f"{'measure':34} {'raw nats-py':>12} {'reverie':>12} {'ratio':>7}  target")
    results: dict[str, Any] = {
        "raw": raw,
        "reverie": rev,
        "ratios": {},
        "targets_met": {},
        "rows": [],
        "quick": args.quick,
    }
    for label, key, target, ok in rows:
        ratio = rev[key] / raw[key]
        results["ratios"][key] = ratio
        verdict = ""
        if ok is not None:
            met = ok(ratio)
            results["targets_met"][key] = met
            verdict = f"{target} {'ok' if met else 'MISSED'}"
        print(f"{label:34} {raw[key]:12.1f} {rev[key]:12.1f} {ratio:7.2f}  {verdict}")
        results["rows"].append(
            {
                "name": f"NATS {label}",
                "reverie": round(rev[key], 1),
                "baseline": round(raw[key], 1),
                "baseline_name": "raw nats-py",
                "unit": "",
                "ratio": round(ratio, 2),
                "target": target,
                "ok": None if ok is None else ok(ratio),
            }
        )
    disc_ok = disc["visible_live_s"] <= 2.0
    results["discovery"] = disc
    results["targets_met"]["discovery_1000_within_2s"] = disc_ok
    print(
        f"\n{disc['instances']} instances: registered in {disc['register_s']:.2f} s, visible to "
        f"a watching client {disc['visible_live_s']:.2f} s after the first registration "
        f"(target <= 2 s {'ok' if disc_ok else 'MISSED'}); a new watcher saw all in "
        f"{disc['visible_cold_s']:.2f} s"
    )
    results["failures"] = fail
    print(
        f"closing a stream's iterator ended the producer's generator in "
        f"{fail['cancel_p50_ms']:.1f} ms p50, {fail['cancel_max_ms']:.1f} ms max "
        f"(target <= 100 ms {'ok' if fail['cancel_max_ms'] <= 100 else 'MISSED'})"
    )
    print(
        f"kill -9 of a serving process mid-stream -> WorkerLostError in "
        f"{fail['lost_p50_ms']:.0f} ms p50, {fail['lost_max_ms']:.0f} ms max over "
        f"{fail['kills']} kills (target <= 1000 ms "
        f"{'ok' if fail['lost_max_ms'] <= 1000 else 'MISSED'})"
    )
    results["targets_met"]["cancel_within_100ms"] = fail["cancel_max_ms"] <= 100
    results["targets_met"]["instance_lost_within_1s"] = fail["lost_max_ms"] <= 1000
    # (discovery of 1,000 lease puts from one connection is printed above; the table's scale
    # figures come from bench_scale.py, which counts real served endpoints)
    results["rows"] += [
        {
            "name": "NATS: closing a stream ends the producer",
            "reverie": round(fail["cancel_max_ms"], 1),
            "baseline": None,
            "baseline_name": "-",
            "unit": "ms max",
            "ratio": None,
            "target": "<= 100 ms",
            "ok": fail["cancel_max_ms"] <= 100,
        },
        {
            "name": "NATS: kill -9 mid-stream -> WorkerLostError",
            "reverie": round(fail["lost_max_ms"]),
            "baseline": None,
            "baseline_name": "-",
            "unit": "ms max",
            "ratio": None,
            "target": "<= 1000 ms",
            "ok": fail["lost_max_ms"] <= 1000,
        },
    ]
    results["elapsed_s"] = time.perf_counter() - started
    out = _write(results, args.json)
    print(f"\nwrote {out} ({results['elapsed_s']:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
