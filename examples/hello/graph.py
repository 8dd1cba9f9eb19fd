"""Hello graph: Frontend → Middle → Backend, streaming text through three services."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel, Field

from reverie import config, depends, endpoint, feature, service
from reverie.errors import ServiceError

MAX_REPEAT = 100  # a bound on every input is what keeps a public feature from being a hang


class Greeting(BaseModel):
    """What the frontend accepts."""

    text: str
    repeat: int = Field(1, ge=0, le=MAX_REPEAT)


@service(sid="sid://reverie.dev/2026/examples/hello/backend", namespace="hello")
class Backend:
    """Streams the words of a text back, decorated."""

    suffix: str = config("!", "Appended to every word")

    @endpoint()
    async def generate(self, text: str) -> AsyncIterator[str]:
        for word in text.split():
            yield f"{word}{self.suffix}"


@service(namespace="hello")
class Middle:
    """Upper-cases what the backend streams."""

    backend = depends(Backend)

    @endpoint()
    async def generate(self, text: str) -> AsyncIterator[str]:
        async for word in self.backend.generate(text):
            yield word.upper()


@service(namespace="hello")
class Frontend:
    """Entry point: repeats the request through the middle service."""

    greeting: str = config("Hello", "First word of every answer")
    middle = depends(Middle)

    @endpoint()
    async def generate(self, request: Greeting) -> AsyncIterator[str]:
        for _ in range(request.repeat):
            async for word in self.middle.generate(f"{self.greeting} {request.text}"):
                yield word

    @feature("GET:hello/{name}")
    async def hello(self, name: str, repeat: int = 1) -> list[str]:
        """Say hello over HTTP: GET /Frontend/hello/world?repeat=2."""
        if not 0 <= repeat <= MAX_REPEAT:
            raise ServiceError(400, f"repeat={repeat} is out of range; give 0 to {MAX_REPEAT}")
        return [w async for w in self.generate(Greeting(text=name, repeat=repeat))]
