"""Every benchmark script still imports (bench/ is not run by the suite, so a renamed module
would otherwise break it silently until the next full run of bench/run.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_every_bench_script_imports() -> None:
    names = sorted(p.stem for p in BENCH.glob("bench_*.py"))
    assert "bench_http" in names and "bench_inprocess" in names
    code = "import sys; sys.path[:0] = [sys.argv[1]]\nfor n in sys.argv[2:]: __import__(n)"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(BENCH), *names, "run", "wrk", "measure"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCH.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def _run_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_table_is_latest_json_rendered() -> None:
    """``bench/run.py --readme-only`` reproduces the committed table from the committed JSON."""
    run = _run_module()
    summary = json.loads((BENCH / "results" / "latest.json").read_text())
    readme = (BENCH / "README.md").read_text()
    block = readme[readme.index(run.BEGIN) : readme.index(run.END) + len(run.END)]
    assert (
        block == f"{run.BEGIN}\n{run.header(summary)}\n\n{run.table(summary['results'])}\n{run.END}"
    )


def test_rows_differing_only_by_baseline_print_apart() -> None:
    run = _run_module()
    rows = [
        {"name": "graph p50", "reverie": 1.0, "baseline": None, "baseline_name": peer}
        for peer in ("BentoML", "Ray Serve")
    ]
    lines = run.table([{"name": "peers", "rows": run.settle(rows, quick=False)}]).splitlines()[2:]
    assert lines == [
        "| graph p50 | 1 | - (BentoML) |  | - |  |  | full |",
        "| graph p50 | 1 | - (Ray Serve) |  | - |  |  | full |",
    ]
