"""A caller that lives on one of the test machines (``ip netns exec ... python -m
tests.multinode.agent URLS``): it reads one JSON command per line on stdin and answers one JSON
line on stdout, so a test in the host namespace can drive calls from inside a namespace.

Times are ``time.monotonic()`` values: CLOCK_MONOTONIC is one clock for the whole machine,
namespaces included, so the test compares them with its own.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from reverie._private.call.context import new_context
from reverie._private.runtime import DistributedRuntime


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Agent:
    def __init__(self, rt: DistributedRuntime) -> None:
        self.rt = rt
        worker = rt.namespace("mn").component("Worker")
        self.whoami = worker.endpoint("whoami").client()
        self.ticks = worker.endpoint("ticks").client()
        self.front = rt.namespace("mn").component("Front").endpoint("where").client()
        self.streams: list[dict[str, Any]] = []

    async def op_wait(self, n: int = 2, timeout: float = 60.0, what: str = "whoami") -> Any:
        client = self.front if what == "front" else self.whoami
        await client.wait_for_workers(n, timeout=timeout)
        return {"instances": len(client.workers())}

    async def op_calls(self, n: int = 10, timeout: float = 10.0) -> Any:
        out = []
        for _ in range(n):
            t0 = time.monotonic()
            try:
                r = await self.whoami.call(None, new_context(timeout))
                out.append(
                    {
                        "node": r["node"],
                        "pid": r["pid"],
                        "error": None,
                        "seconds": time.monotonic() - t0,
                        "t0": t0,
                    }
                )
            except Exception as exc:
                out.append(
                    {"node": None, "error": _err(exc), "seconds": time.monotonic() - t0, "t0": t0}
                )
        return out

    async def op_front(self, n: int = 4, timeout: float = 10.0) -> Any:
        out = []
        for _ in range(n):
            try:
                out.append(await self.front.call(None, new_context(timeout)))
            except Exception as exc:
                out.append({"error": _err(exc)})
        return out

    async def op_streams(self, n: int = 4, every: float = 0.05) -> Any:
        """Start ``n`` endless streams; answer once each has told its node."""
        started = []
        for _ in range(n):
            rec: dict[str, Any] = {"node": None, "error": None, "t_end": None, "items": 0}
            first = asyncio.get_running_loop().create_future()
            rec["task"] = asyncio.ensure_future(self._consume(rec, every, first))
            self.streams.append(rec)
            started.append(first)
        await asyncio.wait_for(asyncio.gather(*started), 30)
        return [r["node"] for r in self.streams[-n:]]

    async def _consume(self, rec: dict[str, Any], every: float, first: Any) -> None:
        try:
            async for node in self.ticks.stream(every):
                rec["items"] += 1
                if rec["node"] is None:
                    rec["node"] = node
                    first.set_result(node)
        except Exception as exc:
            rec["error"] = _err(exc)
        rec["t_end"] = time.monotonic()
        if not first.done():
            first.set_result(None)

    async def op_stream_results(
        self, wait_for: list[str] | None = None, timeout: float = 30.0
    ) -> Any:
        """Wait (bounded) until every stream on a node of ``wait_for`` has ended; report all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = [
                r
                for r in self.streams
                if r["t_end"] is None and (wait_for is None or r["node"] in wait_for)
            ]
            if not pending:
                break
            await asyncio.sleep(0.05)
        return [{k: v for k, v in r.items() if k != "task"} for r in self.streams]

    async def op_stop_streams(self) -> Any:
        for r in self.streams:
            r["task"].cancel()
        await asyncio.gather(*(r["task"] for r in self.streams), return_exceptions=True)
        self.streams.clear()
        return True

    async def op_state(self) -> Any:
        """What the runtime's buckets hold: registrations, the blueprint, stream sequences."""
        regs = await self.rt.registrations()
        bp = None
        try:
            bp = await self.rt.get_blueprint("mn", "Worker")
        except Exception as exc:
            bp = _err(exc)
        info = await self.rt.js.stream_info("KV_rv_workers")
        binfo = await self.rt.js.stream_info("KV_rv_blueprints")
        return {
            "registrations": [[r["component"], r["endpoint"], r["worker"]] for r in regs],
            "blueprint": bp is not None and "Worker" in str(bp),
            "workers_last_seq": info.state.last_seq,
            "blueprints_last_seq": binfo.state.last_seq,
            "replicas": info.config.num_replicas,
            "connected": str(self.rt.nc.connected_url.netloc),
        }


async def main() -> None:
    rt = await DistributedRuntime.connect(sys.argv[1], connect_timeout=30)
    agent = Agent(rt)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        op = cmd.pop("op")
        if op == "quit":
            break
        try:
            result = {"ok": await getattr(agent, f"op_{op}")(**cmd)}
        except Exception as exc:
            result = {"error": _err(exc)}
        print(json.dumps(result, default=str), flush=True)
    await agent.op_stop_streams()
    await rt.close()


if __name__ == "__main__":
    asyncio.run(main())
