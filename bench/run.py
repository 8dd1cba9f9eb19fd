"""Run every benchmark, each beside its raw baseline in the same run; print one ratio table.

    python bench/run.py [--only inprocess,http] [--quick] [--update-readme]

Each ``bench/bench_<name>.py`` takes ``--json PATH`` and writes ``{"rows": [...]}`` where a row
is ``{"name", "reverie", "baseline", "baseline_name", "unit", "ratio", "target", "ok"}``.
This script runs them one after another (never in parallel: the machine has two cores), writes
``bench/results/all.json`` and, with ``--update-readme``, the table in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = ["inprocess", "observability", "http", "nats", "direct", "startup", "llm", "peers", "state",
         "chaos", "scale"]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def run_one(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    script = HERE / f"bench_{name}.py"
    out = HERE / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(script), "--json", str(out)] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - t0
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        return {"name": name, "error": f"exit {proc.returncode}", "seconds": took, "rows": []}
    data = json.loads(out.read_text())
    data.setdefault("rows", [])
    data["seconds"] = took
    return data


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return "" if v is None else str(v)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | Reverie | baseline | unit | ratio | target | met |",
        "|---|---:|---:|---|---:|---|:-:|",
    ]
    for res in results:
        if res.get("error"):
            lines.append(f"| {res['name']} | failed: {res['error']} | | | | | |")
        for row in res["rows"]:
            base = "-" if row.get("baseline") is None else (
                f"{fmt(row.get('baseline'))} ({row.get('baseline_name', 'raw')})")
            ratio = "-" if row.get("ratio") is None else f"{fmt(row.get('ratio'))}x"
            met = {True: "yes", False: "NO", None: ""}[row.get("ok")]
            lines.append(
                f"| {row['name']} | {fmt(row.get('reverie'))} | {base} | {row.get('unit', '')} "
                f"| {ratio} | {row.get('target', '')} | {met} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="comma-separated names (default: all present)")
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    ap.add_argument("--timeout", type=float, default=900.0, help="per benchmark, seconds")
    ap.add_argument("--update-readme", action="store_true")
    ap.add_argument("--from-results", action="store_true",
                    help="run nothing: rebuild the table from bench/results/<name>.json")
    args = ap.parse_args()
    names = [n for n in (args.only.split(",") if args.only else ORDER)
             if (HERE / f"bench_{n}.py").exists()]
    results = []
    for name in names:
        if args.from_results:
            path = HERE / "results" / f"{name}.json"
            if path.exists():
                results.append({"name": name, **json.loads(path.read_text())})
            continue
        print(f"\n== bench_{name}.py", flush=True)
        try:
            results.append(run_one(name, args.quick, args.timeout))
        except subprocess.TimeoutExpired:
            results.append({"name": name, "error": f"timed out after {args.timeout:g} s",
                            "rows": []})
    text = table(results)
    print("\n" + text)
    summary = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "quick": args.quick,
               "results": results}
    (HERE / "results" / "all.json").write_text(json.dumps(summary, indent=2))
    if args.update_readme:
        readme = HERE / "README.md"
        body = readme.read_text()
        block = (f"{BEGIN}\nMachine: {summary['machine']}. Date: {summary['date']}"
                 f"{' (quick run)' if args.quick else ''}.\n\n{text}\n{END}")
        if BEGIN in body:
            body = body[: body.index(BEGIN)] + block + body[body.index(END) + len(END):]
        else:
            body += "\n" + block + "\n"
        readme.write_text(body)
    failed = [r["name"] for r in results if r.get("error")]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
