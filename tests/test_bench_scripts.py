"""Every benchmark script still imports (bench/ is not run by the suite, so a renamed module
would otherwise break it silently until the next full run of bench/run.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
