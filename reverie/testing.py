"""Test helpers: run a graph in-process, swap dependencies, build one instance with fakes.

``run_graph`` serializes every in-process call through the wire codec by default, so a test
fails on code that would only work co-located. Pytest fixtures (``reverie_host``,
``graph_runner``) load through the ``pytest11`` entry point.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from reverie._private.client import ServiceClient
from reverie._private.declare import get_meta
from reverie._private.host import Host
from reverie._private.http.attach import attach_http
from reverie._private.instance import Instance, construct

__all__ = ["GraphHandle", "make_instance", "run_graph"]


class GraphHandle:
    """A running graph: call endpoints by service name, reach instances and clients."""

    def __init__(self, host: Host, entry: Instance | None) -> None:
        self.host = host
        self.entry = entry

    def instance(self, service: str | type) -> Instance:
        return self.host.instance(service)

    def obj(self, service: str | type) -> Any:
        """The user's object behind a service instance."""
        return self.host.instance(service).obj

    def client(self, service: str | type) -> ServiceClient:
        return self.host.client(service)

    async def call(self, service: str | type, endpoint: str, request: Any = ..., **kw: Any) -> Any:
        """Call a unary endpoint through a client, with the host's transport semantics."""
        caller = getattr(self.client(service), endpoint)
        return await (caller(**kw) if request is ... else caller(request, **kw))

    def stream(
        self, service: str | type, endpoint: str, request: Any = ..., **kw: Any
    ) -> AsyncIterator[Any]:
        """Call a streaming endpoint; iterate the result."""
        caller = getattr(self.client(service), endpoint)
        result: AsyncIterator[Any] = caller(**kw) if request is ... else caller(request, **kw)
        return result

    async def collect(
        self, service: str | type, endpoint: str, request: Any = ..., **kw: Any
    ) -> list[Any]:
        """Call a streaming endpoint and gather every item."""
        return [item async for item in self.stream(service, endpoint, request, **kw)]


@asynccontextmanager
async def run_graph(
    entry: type | str,
    *,
    config: Mapping[str | type, Mapping[str, Any]] | None = None,
    overrides: Mapping[Any, Any] | None = None,
    serialize: bool = True,
    deployment: Any = None,
    env: Mapping[str, str] | None = None,
    register: tuple[type, ...] = (),
) -> AsyncIterator[GraphHandle]:
    """Start the graph from ``entry`` in one in-process host; stop it on exit.

    ``overrides`` maps a class or SID to a replacement service class, or to any object that is
    then handed to dependents as the client itself (a fake). ``env`` defaults to an empty mapping
    so the machine's environment never leaks into a test.
    """
    host = Host(serialize=serialize, deployment=deployment, env={} if env is None else env)
    attach_http(host)  # clients' .plug, as under `reverie serve`
    host.register(*register)
    if not isinstance(entry, str):
        host.register(entry)
    try:
        inst = await host.start(
            entry, config=config, overrides=overrides, config_source="run_graph(config=...)"
        )
        yield GraphHandle(host, inst)
    finally:
        await host.stop()


def make_instance(
    cls: type, *, config: Mapping[str, Any] | None = None, **dependencies: Any
) -> Any:
    """One plain object of a service class, configured, with dependencies set to given fakes.

    Like Nameko's ``worker_factory``: no host, no lifecycle hooks run. A dependency not given is
    set to an object that fails on use, naming the dependency.
    """
    from reverie._private.config import resolve_config

    meta = get_meta(cls)
    resolved = resolve_config(meta, env={}, overrides=config, overrides_source="make_instance")
    obj = construct(cls, resolved.by_attr())
    for attr, dep in meta.dependencies.items():
        if attr in dependencies:
            obj.__dict__[attr] = dependencies.pop(attr)
        else:
            obj.__dict__[attr] = _Unset(f"{meta.name}.{attr}", dep.target_name)
    if dependencies:
        raise TypeError(
            f"make_instance({meta.name}): {', '.join(dependencies)} "
            f"{'is not a dependency' if len(dependencies) == 1 else 'are not dependencies'}; "
            f"dependencies: {', '.join(meta.dependencies) or 'none'}"
        )
    return obj


class _Unset:
    def __init__(self, where: str, target: str) -> None:
        self._where = where
        self._target = target

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"dependency {self._where} -> {self._target} was not given to make_instance; pass "
            f"{self._where.split('.')[-1]}=<fake> to use it"
        )


try:  # pragma: no cover - fixtures exist when pytest and pytest-asyncio are installed
    import pytest
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def reverie_host() -> AsyncIterator[Host]:
        """An empty in-process host (serialize=True, empty env, HTTP attached), stopped after
        the test."""
        host = Host(serialize=True, env={})
        attach_http(host)
        try:
            yield host
        finally:
            await host.stop()

    @pytest.fixture
    def graph_runner() -> Any:
        """``run_graph`` itself, for ``async with graph_runner(Entry) as g:``."""
        return run_graph

except ImportError:  # pragma: no cover
    pass
