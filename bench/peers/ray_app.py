"""The two-service graph on Ray Serve (2.x): ``POST /generate {"text": ...}`` on the HTTP proxy
calls ``Backend.upper`` through a ``DeploymentHandle`` and answers ``{"text": TEXT}``.

Run by ``bench_peers.py`` as ``.venv-peers/bin/python ray_app.py PORT``: starts a local Ray
(no dashboard, no usage stats), serves on 127.0.0.1:PORT, prints ``READY`` and runs until
SIGTERM/SIGINT, then shuts Serve and Ray down. Never imported by Reverie's tests.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from ray import serve  # type: ignore[import-not-found]

QUIET = {"enable_access_log": False}  # no per-request log lines, as for the other two


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100, logging_config=QUIET)  # type: ignore[misc]
class Backend:
    """Upper-cases a text."""

    async def upper(self, text: str) -> str:
        return text.upper()


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=100, logging_config=QUIET)  # type: ignore[misc]
class Frontend:
    """HTTP entry: forwards the text to the backend."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    async def __call__(self, request: Any) -> dict[str, str]:
        body = await request.json()
        return {"text": await self.backend.upper.remote(body["text"])}


app = Frontend.bind(Backend.bind())


def main() -> None:
    import ray  # type: ignore[import-not-found]

    port = int(sys.argv[1])
    stop = threading.Event()
    ray.init(
        address="local",
        include_dashboard=False,
        num_cpus=2,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
        configure_logging=False,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs its own
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config=QUIET)
        serve.run(app, name="peers", route_prefix="/generate")
        print("READY", flush=True)
        stop.wait(3600)
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
