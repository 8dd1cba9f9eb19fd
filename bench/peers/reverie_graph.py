"""The two-service graph on Reverie: ``POST /Frontend/generate {"text": ...}`` calls
``Backend.upper`` through ``depends`` and answers ``{"text": TEXT}``.

Served by ``bench_peers.py`` with ``reverie serve reverie_graph:Frontend`` (in one process, and
with ``--processes``: each service in its own process, joined over NATS).
"""

from __future__ import annotations

from pydantic import BaseModel

from reverie import depends, endpoint, feature, service


class Text(BaseModel):
    """The request and the answer: one short text."""

    text: str


@service()
class Backend:
    """Upper-cases a text."""

    @endpoint()
    async def upper(self, text: str) -> str:
        return text.upper()


@service()
class Frontend:
    """HTTP entry: forwards the text to the backend."""

    backend = depends(Backend)

    @feature("POST:generate")
    async def generate(self, request: Text) -> Text:
        return Text(text=await self.backend.upper(request.text))
