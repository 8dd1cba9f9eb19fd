"""A serving process for the multi-process tests: ``python worker.py URL MODE [ARGS]``.

Modes: ``serve`` (component t/w: echo, slow, count, idem), ``peer NAME OTHER`` (NAME/whoami and
NAME/ask, which calls OTHER/whoami). Prints ``READY <instance id>`` once registered and runs
until SIGTERM (or is killed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from reverie._private.call.context import RequestContext, current_context
from reverie._private.runtime import DistributedRuntime


async def serve(rt: DistributedRuntime) -> None:
    comp = rt.namespace("t").component("w")

    async def echo(req: Any, ctx: RequestContext) -> Any:
        return {"pid": os.getpid(), "instance": rt.worker_id, "req": req}

    async def slow(req: float, ctx: RequestContext) -> Any:
        await asyncio.sleep(req)
        return {"instance": rt.worker_id}

    async def count(req: int, ctx: RequestContext) -> AsyncIterator[int]:
        for i in range(req):
            yield i
            await asyncio.sleep(0.01)

    await comp.endpoint("echo").serve(echo, streaming=False)
    await comp.endpoint("slow").serve(slow, streaming=False, request_type=float)
    await comp.endpoint("idem").serve(slow, streaming=False, request_type=float, idempotent=True)
    await comp.endpoint("count").serve(count, streaming=True, request_type=int)


async def peer(rt: DistributedRuntime, name: str, other: str) -> None:
    comp = rt.namespace("t").component(name)
    other_client = rt.namespace("t").component(other).endpoint("whoami").client()

    async def whoami(req: Any, ctx: RequestContext) -> Any:
        cur = current_context()
        return {"name": name, "pid": os.getpid(), "request_id": cur.request_id if cur else None}

    async def ask(req: Any, ctx: RequestContext) -> Any:
        await other_client.wait_for_workers(1, 10)
        answer = await other_client.call(None)
        return {"me": name, "request_id": ctx.request_id, "other": answer}

    await comp.endpoint("whoami").serve(whoami, streaming=False)
    await comp.endpoint("ask").serve(ask, streaming=False)


async def main() -> None:
    url, mode, *args = sys.argv[1:]
    rt = await DistributedRuntime.connect(url, lease_ttl=2.0)
    if mode == "serve":
        await serve(rt)
    else:
        await peer(rt, args[0], args[1])
    print(f"READY {rt.worker_id}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await rt.close()


if __name__ == "__main__":
    asyncio.run(main())
