"""``scripts/demo``: run the hello graph in one process and print a streamed call."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from reverie import Host

from .graph import Frontend, Greeting


async def main() -> None:
    deployment = Path(__file__).with_name("deploy.yaml")
    async with Host(deployment=deployment) as host:
        t0 = time.perf_counter()
        await host.start(Frontend)
        print(f"started {', '.join(host.instances)} in {(time.perf_counter() - t0) * 1e3:.1f} ms")
        print("Frontend.generate(text='world', repeat=2) streams:")
        async for word in host.client(Frontend).generate(Greeting(text="world", repeat=2)):
            print("  ", word)
        print()
        print(f"config, from {deployment.name} and the code:")
        for name in ("Frontend", "Backend"):
            print(host.explain_config(name))


if __name__ == "__main__":
    asyncio.run(main())
