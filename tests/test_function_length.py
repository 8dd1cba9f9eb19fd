"""No function in ``reverie/`` runs past 60 lines (its body, after the docstring) unless a
comment on the line above its ``def`` (or its first decorator) starts with ``# long:`` and says
why. Long procedures read better as named steps; a new long one fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "reverie"
LIMIT = 60
#: Long functions not split yet, each with why it is still long. Keep this list short.
PENDING = {
    "reverie/_private/runtime/core.py connect": "runtime internals: being split (issue 14)",
    "reverie/_private/runtime/features.py forward": "issue 9 landed it at 61 lines",
}


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    if (
        len(body) > 1
        and isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        first = body[1]
    return (node.end_lineno or node.lineno) - first.lineno + 1


def _reason(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    above = lines[start - 2].strip() if start >= 2 else ""
    return above.startswith("# long:") and len(above) > len("# long:") + 10


def long_functions() -> list[str]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _body_lines(node)
                where = f"{path.relative_to(ROOT.parent)} {node.name}"
                if n > LIMIT and not _reason(lines, node) and where not in PENDING:
                    out.append(
                        f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} ({n} lines)"
                    )
    return out


def test_no_function_is_long_without_a_reason() -> None:
    found = long_functions()
    assert not found, (
        "functions over 60 lines; split them into named steps, or say why on the line above "
        "the def with '# long: <reason>':\n  " + "\n  ".join(found)
    )


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT + 1))
    tree = ast.parse(f"def f():\n    '''doc'''\n{body}\n")
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef)
    assert _body_lines(node) == LIMIT + 1
    lines = ["# long: a state machine read top to bottom", *f"def f():\n{body}".splitlines()]
    assert _reason(lines, ast.parse("\n".join(lines)).body[0])  # type: ignore[arg-type]
