"""No import cycle between modules of ``reverie``: the tree reads in one direction.

Only imports that run when a module is imported count (module and class bodies, not functions,
not ``if TYPE_CHECKING:``). An import inside a function is how a layer reaches a later one
without a cycle, so it is allowed. Checked on the source with ``ast`` (grimp/import-linter would
be one more dependency for forty lines).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "reverie"


def _module_names(root: Path) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _eager_imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that importing ``module`` imports by itself."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for st in body:
            if isinstance(st, ast.If) and "TYPE_CHECKING" in ast.unparse(st.test):
                visit(st.orelse)
            elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            elif isinstance(st, ast.ClassDef):
                visit(st.body)
            elif isinstance(st, (ast.If, ast.Try, ast.With)):
                for part in ("body", "orelse", "finalbody"):
                    visit(getattr(st, part, []))
                for handler in getattr(st, "handlers", []):
                    visit(handler.body)
            elif isinstance(st, ast.Import):
                found.update(a.name for a in st.names if a.name in known)
            elif isinstance(st, ast.ImportFrom):
                if st.level:
                    base = package[: len(package) - (st.level - 1)]
                    target = ".".join([*base, *([st.module] if st.module else [])])
                else:
                    target = st.module or ""
                subs = {f"{target}.{a.name}" for a in st.names} & known
                found.update(subs)
                if len(subs) < len(st.names) and target in known:
                    found.add(target)

    visit(ast.parse(path.read_text(), str(path)).body)
    found.discard(module)
    return found


def import_cycles(root: Path) -> list[list[str]]:
    """Each group of modules that import each other, directly or around a loop (Tarjan)."""
    modules = _module_names(root)
    graph = {m: _eager_imports(m, p, set(modules)) for m, p in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def test_no_import_cycle_between_modules() -> None:
    cycles = import_cycles(ROOT)
    assert not cycles, (
        f"modules that import each other at import time: {cycles}; move the shared part into "
        f"its own module, or import the later layer inside the function that needs it"
    )


def test_the_checker_finds_a_cycle_and_ignores_lazy_and_type_only_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "reverie"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("class C:\n    from ..a import x\n")
    (pkg / "lazy.py").write_text("def f():\n    from . import typed\n")
    (pkg / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .lazy import f\n"
    )
    assert import_cycles(tmp_path / "reverie") == [["reverie.a", "reverie.sub.b"]]
