"""The public surface: every exported name resolves, and `import reverie` stays light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import reverie


@pytest.mark.parametrize("name", reverie.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(reverie, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'reverie' has no attribute 'Hots'"):
        reverie.Hots  # noqa: B018


#: The public surface, written out: adding or removing a public name fails here until this list
#: (and so the review of the change) says so too.
PUBLIC = {
    "reverie": [
        "Blueprint",
        "DistributedRuntime",
        "EndpointClient",
        "Host",
        "Instance",
        "Param",
        "Plug",
        "PlugResponse",
        "REQUIRED",
        "Request",
        "RequestContext",
        "Response",
        "ServeOptions",
        "ServiceClient",
        "StreamingResponse",
        "URI",
        "__version__",
        "api",
        "attach_http",
        "attach_runtime",
        "blueprint",
        "config",
        "current_context",
        "depends",
        "disable_tracing",
        "enable_tracing",
        "endpoint",
        "errors",
        "feature",
        "get_meta",
        "is_service",
        "on_config",
        "on_shutdown",
        "on_start",
        "serve",
        "service",
        "state",
    ],
    "reverie.errors": [
        "AccessDeniedError",
        "BlueprintFormatError",
        "CallError",
        "ConfigError",
        "ConfigRejectedError",
        "DeadlineExceededError",
        "DependencyCycleError",
        "DeploymentError",
        "DuplicateSIDError",
        "EndpointNotFoundError",
        "GraphError",
        "IllegalTransitionError",
        "WorkerLostError",
        "InvalidResultError",
        "LifecycleError",
        "MarkupError",
        "MissingDependencyError",
        "NatsServerError",
        "NoWorkersError",
        "RemoteError",
        "ReverieError",
        "ServiceError",
        "StartError",
        "StateError",
        "SwapError",
        "TransportError",
        "UnavailableError",
        "UnknownSIDError",
        "ValidationError",
    ],
    "reverie.testing": [
        "FeatureClient",
        "GraphHandle",
        "check_transport",
        "make_instance",
        "run_graph",
    ],
    "reverie.state": ["StateDocument", "migrate", "restore", "snapshot"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_the_public_names_are_the_listed_ones(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(mod.__all__)
    listed = set(PUBLIC[module])
    assert not exported - listed, (
        f"{module} exports {sorted(exported - listed)}, not in tests/test_exports.py PUBLIC; "
        f"add them there if they are meant to be public"
    )
    assert not listed - exported, (
        f"{module} no longer exports {sorted(listed - exported)}; remove them from "
        f"tests/test_exports.py PUBLIC if that is meant"
    )
    assert len(mod.__all__) == len(exported), f"{module}.__all__ names something twice"


def test_dir_lists_the_public_names() -> None:
    assert dir(reverie) == sorted(PUBLIC["reverie"])


def test_import_reverie_loads_no_transport_or_server() -> None:
    code = (
        "import sys, json, reverie; "
        "print(json.dumps(sorted(m for m in ('httpx', 'uvicorn', 'nats', 'starlette', 'typer', "
        "'rich', 'yaml', 'pydantic', 'torch') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_error_hierarchy_is_exported_from_one_module() -> None:
    from reverie import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ReverieError), name
        assert cls.__module__ == "reverie.errors", name
