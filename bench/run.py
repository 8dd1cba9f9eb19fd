"""Run every benchmark, each beside its raw baseline in the same run; print one ratio table.

    python bench/run.py                   # all of them: writes bench/results/latest.json
    python bench/run.py --only http,nats  # some: writes bench/results/partial.json
    python bench/run.py --quick           # fewer iterations; every row says "quick"
    python bench/run.py --update-readme   # after running: the table in bench/README.md
    python bench/run.py --readme-only     # run nothing: the README table from latest.json

Each ``bench/bench_<name>.py`` takes ``--json PATH`` (and ``--quick``) and writes
``{"rows": [...], "quick": bool}``; a row is ``{"name", "reverie", "baseline",
"baseline_name", "unit", "target", "ok"}``. This script runs them one after another (never in
parallel: the machine has two cores) and, for every row, sets ``mode`` (full or quick, from the
run that made it) and the ``ratio`` as Reverie / baseline of the two figures printed beside it.

``bench/results/latest.json`` (committed; the rest of bench/results/ is not) holds the machine,
the date, the commit and the load average of the one full run that the README table shows.
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
RESULTS = HERE / "results"
LATEST = RESULTS / "latest.json"
ORDER = [
    "inprocess",
    "observability",
    "http",
    "nats",
    "direct",
    "features",
    "startup",
    "llm",
    "peers",
    "state",
    "chaos",
    "scale",
]
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
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, "
        f"{platform.system()}"
    )


def commit() -> str:
    """The commit the run measured, with ``+changes`` when the work tree differed from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    sha = git("rev-parse", "--short=10", "HEAD") or "unknown"
    dirty = git(
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        "reverie",
        "bench",
        ":!bench/results",
        ":!bench/README.md",
    )
    return f"{sha}+changes" if dirty else sha


def load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def settle(rows: list[dict[str, Any]], quick: bool) -> list[dict[str, Any]]:
    """Every row's mode, and its ratio (where the bench gives one) from the two figures printed
    beside it, as printed."""
    for row in rows:
        row["mode"] = row.get("mode") or ("quick" if quick else "full")
        mine, base = row.get("reverie"), row.get("baseline")
        if row.get("ratio") is None:
            continue  # the bench shows no ratio for this row (a count, a fraction of a window)
        if is_number(mine) and is_number(base) and float(shown(base)):
            row["ratio"] = float(shown(mine)) / float(shown(base))
        else:
            row["ratio"] = None
    return rows


def run_one(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    script = HERE / f"bench_{name}.py"
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(script), "--json", str(out)] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - t0
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0 or not out.exists():
        sys.stderr.write(proc.stderr[-4000:])
        return {
            "name": name,
            "error": f"exit {proc.returncode}",
            "seconds": took,
            "rows": [],
            "quick": quick,
        }
    data = json.loads(out.read_text())
    data.setdefault("quick", quick)  # the flag this run was given, where the bench omits it
    data["rows"] = settle(data.get("rows", []), bool(data["quick"]))
    data["seconds"] = round(took, 1)
    return {"name": name, **data}


def shown(v: Any) -> str:
    """A figure as the table prints it: 3 significant digits below 100, else whole."""
    if not is_number(v):
        return "" if v is None else str(v)
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def fmt(v: Any) -> str:
    text = shown(v)
    return f"{round(v):,}" if is_number(v) and abs(v) >= 1000 else text


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | Reverie | baseline | unit | ratio | target | met | run |",
        "|---|---:|---:|---|---:|---|:-:|---|",
    ]
    for res in results:
        if res.get("error"):
            lines.append(f"| bench_{res['name']}.py | failed: {res['error']} | | | | | | |")
        for row in res["rows"]:
            # the baseline's name even without its figure: rows that differ only by their
            # baseline (each peer of bench_peers) would otherwise print alike
            named = (
                f" ({row['baseline_name']})"
                if row.get("baseline_name") not in ("", "-", None)
                else ""
            )
            base = (
                f"-{named}"
                if row.get("baseline") is None
                else f"{fmt(row.get('baseline'))} ({row.get('baseline_name', 'raw')})"
            )
            mine = row.get("reverie")
            mine_text = row.get("note", "-") if mine is None else fmt(mine)
            ratio = "-" if row.get("ratio") is None else f"{row['ratio']:.3g}x"
            met = {True: "yes", False: "NO", None: ""}[row.get("ok")]
            target = row.get("target", "")
            lines.append(
                f"| {row['name']} | {mine_text} | {base} | {row.get('unit', '')} | {ratio} "
                f"| {target} | {met} | {row.get('mode', '')} |"
            )
    return "\n".join(lines)


def header(summary: dict[str, Any]) -> str:
    modes = {r.get("mode") for res in summary["results"] for r in res["rows"]}
    kind = (
        "full run"
        if modes == {"full"}
        else ("quick run" if modes == {"quick"} else "mixed full/quick run")
    )
    la = summary.get("load", {})
    return (
        f"One {kind} of `bench/run.py` ({summary['date']}, commit {summary['commit']}), "
        f"from `bench/results/{summary.get('file', 'latest.json')}`. Machine: "
        f"{summary['machine']}; load average "
        f"{la.get('start', '?')} at the start, {la.get('end', '?')} at the end. "
        f"{summary.get('note', '')}".strip()
    )


def update_readme(summary: dict[str, Any]) -> None:
    readme = HERE / "README.md"
    body = readme.read_text()
    block = f"{BEGIN}\n{header(summary)}\n\n{table(summary['results'])}\n{END}"
    if BEGIN in body:
        body = body[: body.index(BEGIN)] + block + body[body.index(END) + len(END) :]
    else:
        body += "\n" + block + "\n"
    readme.write_text(body)
    print(f"updated {readme.relative_to(ROOT)} from {LATEST.relative_to(ROOT)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--only", default="", help="comma-separated names (default: all present)")
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="per benchmark, seconds")
    ap.add_argument(
        "--update-readme",
        action="store_true",
        help="after a run of all benchmarks: rewrite the table in bench/README.md",
    )
    ap.add_argument(
        "--readme-only",
        action="store_true",
        help="run nothing: rewrite the README table from bench/results/latest.json",
    )
    ap.add_argument("--note", default="", help="a sentence for the table's header (the load)")
    args = ap.parse_args()
    if args.readme_only:
        update_readme(json.loads(LATEST.read_text()))
        return
    names = [
        n
        for n in (args.only.split(",") if args.only else ORDER)
        if (HERE / f"bench_{n}.py").exists()
    ]
    started = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": load()}
    results = []
    for name in names:
        print(f"\n== bench_{name}.py", flush=True)
        try:
            results.append(run_one(name, args.quick, args.timeout))
        except subprocess.TimeoutExpired:
            results.append(
                {
                    "name": name,
                    "error": f"timed out after {args.timeout:g} s",
                    "rows": [],
                    "quick": args.quick,
                }
            )
    summary = {
        "machine": machine(),
        "date": started["date"],
        "commit": commit(),
        "python": platform.python_version(),
        "quick": args.quick,
        "load": {"start": started["load"], "end": load()},
        "note": args.note,
        "benchmarks": names,
        "results": results,
    }
    whole = not args.only
    out = LATEST if whole else RESULTS / "partial.json"
    summary["file"] = out.name
    print("\n" + header(summary) + "\n\n" + table(results))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    if args.update_readme:
        if whole:
            update_readme(summary)
        else:
            print("--update-readme needs a run of every benchmark (no --only): README unchanged")
    failed = [r["name"] for r in results if r.get("error")]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
