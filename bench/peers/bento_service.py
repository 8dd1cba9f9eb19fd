"""The two-service graph on BentoML (>= 1.2): ``POST /generate {"text": ...}`` calls
``Backend.upper`` through ``bentoml.depends`` and answers ``{"text": TEXT}``.

Run by ``bench_peers.py`` with ``.venv-peers/bin/bentoml serve bento_service:Frontend`` (each
service in its own process, as BentoML does in production). Never imported by Reverie's tests.
"""

from __future__ import annotations

import bentoml  # type: ignore[import-not-found]


# BentoML's dependency client closes its whole session after runner_connection.max_requests
# (default 100) calls, failing the calls still in flight on it (HTTP 500, ServerDisconnected):
# about 13% of requests at 32 in flight here. A bigger limit keeps the measured run clean.
@bentoml.service(
    workers=1,
    logging={"access": {"enabled": False}},
    runner_connection={"max_requests": 10**9, "max_age": 3600.0},
)
class Backend:
    """Upper-cases a text."""

    @bentoml.api  # type: ignore[misc]
    async def upper(self, text: str) -> str:
        return text.upper()


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Frontend:
    """HTTP entry: forwards the text to the backend."""

    backend = bentoml.depends(Backend)

    @bentoml.api  # type: ignore[misc]
    async def generate(self, text: str) -> dict[str, str]:
        return {"text": await self.backend.to_async.upper(text=text)}
