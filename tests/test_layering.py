"""The import contract: the core (markup, config, graph, host, clients, in-process calls) never
imports a transport layer (HTTP, the NATS runtime, serve, the CLI) or a transport library.

Layers attach to a host from outside (``attach_http``, ``attach_runtime``) through
``reverie._private.host.resolver``. Imports under ``if TYPE_CHECKING:`` load nothing and are
allowed. Checked on the source (every import statement, also inside functions), so a lazy import
counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "reverie"
PRIVATE = ROOT / "_private"

#: Packages of ``_private`` that are core: markup, contract, config, host, the call itself. Every
#: module in them is core except the layers named below (so a new module is checked by default).
CORE_PACKAGES = ("declare", "contract", "config", "host", "call")
LAYER_FILES = frozenset({"call/tracing.py", "config/k8s.py"})

CORE = [
    ROOT / "errors.py",
    *sorted(p for p in PRIVATE.glob("*.py") if p.name != "__init__.py"),
    *sorted(
        p
        for package in CORE_PACKAGES
        for p in (PRIVATE / package).glob("*.py")
        if p.relative_to(PRIVATE).as_posix() not in LAYER_FILES
    ),
    PRIVATE / "transports" / "base.py",
    PRIVATE / "transports" / "codec.py",
    PRIVATE / "transports" / "inprocess.py",
]

LAYERS = (
    "reverie._private.http",
    "reverie._private.runtime",
    "reverie._private.serve",
    "reverie._private.cli",
    "reverie._private.transports.http",
    "reverie._private.transports.nats",
    "reverie._private.call.tracing",
    "reverie._private.config.k8s",
    "reverie.testing",
    "reverie.cli",
)
LIBRARIES = ("httpx", "uvicorn", "nats", "starlette", "opentelemetry", "prometheus_client")


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    return ".".join(rel.parts)


def _absolute(module: str, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _type_only(tree: ast.Module) -> set[int]:
    """Line numbers of statements inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                for sub in ast.walk(stmt):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def imports_of(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for each import that executes, lazy ones included."""
    module = module or _module_of(path)
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_only(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(node.lineno, m) for m in _absolute(module, node)]
    return found


def _forbidden(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in (*LAYERS, *LIBRARIES))


@pytest.mark.parametrize("path", CORE, ids=lambda p: _module_of(p))
def test_core_module_imports_no_transport_layer(path: Path) -> None:
    bad = sorted({f"line {n}: {m}" for n, m in imports_of(path) if _forbidden(m)})
    assert not bad, (
        f"{_module_of(path)} is core and must not import a transport layer: {bad}; attach the "
        f"layer from outside through reverie._private.host.resolver instead"
    )


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """A contract checker that finds nothing proves nothing: it must catch both forms."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import uvicorn\n"
        "def f():\n    from ..http.app import HostApp\n    import httpx\n"
    )
    found = {m for _, m in imports_of(probe, "reverie._private.host.host")}
    assert {"httpx", "reverie._private.http.app"} <= found
    assert "uvicorn" not in found  # type-only
    assert any(_forbidden(m) for m in found)


def test_the_core_includes_the_host_and_its_resolver() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in CORE}
    assert {
        "_private/host/host.py",
        "_private/host/resolver.py",
        "_private/call/client.py",
        "_private/declare/service.py",
        "_private/config/resolve.py",
        "errors.py",
        "_private/transports/inprocess.py",
    } <= names
    assert "_private/call/tracing.py" not in names
