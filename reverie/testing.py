"""Test helpers: run a graph in-process, swap dependencies, build one instance with fakes.

``run_graph`` serializes every in-process call through the wire codec by default, so a test
fails on code that would only work co-located. Pytest fixtures (``reverie_host``,
``graph_runner``) load through the ``pytest11`` entry point.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from reverie._private.call.service_client import ServiceClient
from reverie._private.declare.service import get_meta
from reverie._private.host.host import Host
from reverie._private.host.instance import Instance, construct
from reverie._private.http.attach import attach_http
from reverie._private.markers import NOT_GIVEN

if TYPE_CHECKING:
    from reverie._private.http.plug import PlugResponse

__all__ = ["FeatureClient", "GraphHandle", "check_transport", "make_instance", "run_graph"]


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

    async def call(
        self, service: str | type, endpoint: str, request: Any = NOT_GIVEN, **kw: Any
    ) -> Any:
        """Call a unary endpoint through a client, with the host's transport semantics."""
        caller = getattr(self.client(service), endpoint)
        return await (caller(**kw) if request is NOT_GIVEN else caller(request, **kw))

    def stream(
        self, service: str | type, endpoint: str, request: Any = NOT_GIVEN, **kw: Any
    ) -> AsyncIterator[Any]:
        """Call a streaming endpoint; iterate the result."""
        caller = getattr(self.client(service), endpoint)
        result: AsyncIterator[Any] = caller(**kw) if request is NOT_GIVEN else caller(request, **kw)
        return result

    async def collect(
        self, service: str | type, endpoint: str, request: Any = NOT_GIVEN, **kw: Any
    ) -> list[Any]:
        """Call a streaming endpoint and gather every item."""
        return [item async for item in self.stream(service, endpoint, request, **kw)]

    def http(self, service: str | type, *, access: str = "public") -> FeatureClient:
        """A test client for the features of a running service, like FastAPI's ``TestClient``:
        ``await g.http("Notes").get("notes/1", params={"verbose": True})``.

        Requests go through the host's whole HTTP stack (routing, access, validation, problem
        bodies) in-process, without a socket; answers are the ``PlugResponse`` a Plug returns.
        ``access`` is the caller's standing: ``public`` (no key, like a browser), ``internal``
        (the key co-hosted services carry) or ``private`` (the host's API key).
        """
        return FeatureClient(self.host, self.instance(service), access)


class FeatureClient:
    """HTTP verbs against one instance's features, answered in-process (see ``GraphHandle.http``).

    Paths are relative to the instance (``"notes/1"``); ``params`` become the query string,
    ``json`` the body. ``plug`` is the underlying ``Plug`` for its fluent form.
    """

    def __init__(self, host: Host, inst: Instance, access: str) -> None:
        app = attach_http(host)
        base = app.plug_for(inst)
        if access == "public":
            base = app.plug(base.uri)  # no key: what an outside caller sends
        elif access == "private":
            key = app.access.api_key
            if key is None:
                raise ValueError(
                    "access='private' needs the host's API key; run the graph with "
                    "env={'REVERIE_API_KEY': '...'}"
                )
            base = base.with_header("Authorization", f"Bearer {key}")
        elif access != "internal":
            raise ValueError(f"access={access!r}: use public, internal or private")
        self.plug = base

    def _at(
        self, path: str, params: Mapping[str, Any] | None, headers: Mapping[str, str] | None
    ) -> Any:
        plug = self.plug
        parts = [p for p in path.strip("/").split("/") if p]
        if parts:
            from urllib.parse import unquote

            plug = plug.at(*(unquote(p) for p in parts))
        if params:
            plug = plug.with_(**params)
        for name, value in (headers or {}).items():
            plug = plug.with_header(name, value)
        return plug

    async def request(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = NOT_GIVEN,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PlugResponse:
        """Send ``method`` to ``path`` below the instance; the answer, whatever its status."""
        plug = self._at(path, params, headers)
        if json is NOT_GIVEN:
            response: PlugResponse = await plug.request(method, content=content)
        else:
            response = await plug.request(method, json=json, content=content)
        return response

    async def get(
        self,
        path: str = "",
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PlugResponse:
        return await self.request("GET", path, params=params, headers=headers)

    async def delete(
        self,
        path: str = "",
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PlugResponse:
        return await self.request("DELETE", path, params=params, headers=headers)

    async def post(
        self,
        path: str = "",
        *,
        json: Any = NOT_GIVEN,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PlugResponse:
        return await self.request(
            "POST", path, params=params, json=json, content=content, headers=headers
        )

    async def put(
        self,
        path: str = "",
        *,
        json: Any = NOT_GIVEN,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PlugResponse:
        return await self.request(
            "PUT", path, params=params, json=json, content=content, headers=headers
        )

    async def patch(
        self,
        path: str = "",
        *,
        json: Any = NOT_GIVEN,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PlugResponse:
        return await self.request(
            "PATCH", path, params=params, json=json, content=content, headers=headers
        )

    def __repr__(self) -> str:
        return f"<FeatureClient {self.plug.uri}>"


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


async def check_transport(kind: Any, rules: list[str] | None = None) -> dict[str, str]:
    """Run the conformance rules (``docs/semantics.md``) against a transport; ``{}`` means it
    keeps them all, else ``{rule: what went wrong}``.

    ``kind(entry)`` is an async context manager giving an object with ``client(service)`` (a
    ``ServiceClient`` over the transport, whose ``.plug`` reaches the service's features) and
    ``async stop(service)``; it must run ``entry``'s graph so that service→service calls (and a
    service's Plug to its dependency) use the transport too (see
    ``reverie._private.conformance.kinds`` for the built-in kinds).
    """
    from reverie._private.conformance import RULES
    from reverie._private.conformance.services import Relay

    failed: dict[str, str] = {}
    for name, fn in RULES.items():
        if rules is not None and name not in rules:
            continue
        try:
            async with kind(Relay) as deployed:
                await fn(deployed)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
    return failed


def make_instance(
    cls: type, *, config: Mapping[str, Any] | None = None, **dependencies: Any
) -> Any:
    """One plain object of a service class, configured, with dependencies set to given fakes.

    Like Nameko's ``worker_factory``: no host, no lifecycle hooks run. A dependency not given is
    set to an object that fails on use, naming the dependency.
    """
    from reverie._private.config.resolve import resolve_config

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

try:  # pragma: no cover - the hook exists when pytest is installed
    import pytest as _pytest

    @_pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(pyfuncitem: Any) -> bool | None:
        """Run an ``async def`` test that no async plugin claimed (no pytest-asyncio, or its
        strict mode without a marker) in a fresh event loop, so ``async with run_graph(...)``
        works in a new project with nothing configured. Marked tests are left to their plugin.
        """
        import asyncio
        import inspect

        func = pyfuncitem.obj
        if not inspect.iscoroutinefunction(func):
            return None
        if any(pyfuncitem.get_closest_marker(m) for m in ("asyncio", "anyio", "trio")):
            return None
        names = pyfuncitem._fixtureinfo.argnames
        kwargs = {name: pyfuncitem.funcargs[name] for name in names}
        asyncio.run(func(**kwargs))
        return True

except ImportError:  # pragma: no cover
    pass
