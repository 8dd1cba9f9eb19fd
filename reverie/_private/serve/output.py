"""What ``reverie serve`` prints: prefixed, coloured per-process logs (or JSON lines), the
start-up table, a progress display while workers start, and the ``--dry-run`` plan."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from .status import ChildState

if TYPE_CHECKING:
    from rich.console import Console

    from .plan_types import ServePlan

__all__ = ["Output", "plan_renderable"]

_COLOURS = [
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "bright_yellow",
    "bright_blue",
]
SELF = "serve"


class Output:
    """One sink for everything the supervisor and its children print.

    ``log_format="text"``: ``Backend-1 | line`` with a colour per process (when a terminal);
    ``"json"``: one JSON object per line with ``ts``, ``process``, ``stream``, ``level`` and
    ``message`` (a child's own JSON log line is merged in).
    """

    def __init__(
        self,
        log_format: str = "text",
        file: IO[str] | None = None,
        force_terminal: bool | None = None,
    ) -> None:
        from rich.console import Console

        self.log_format = log_format
        self.file = file or sys.stdout

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # rich's default points stdout at /dev/null and exits the process: for a
                # supervisor that would end supervision; Output drops the output instead.
                self.quiet = True
                raise BrokenPipeError

        self.console: Console = _Console(
            file=self.file, highlight=False, force_terminal=force_terminal, soft_wrap=True
        )
        if not self.console.is_terminal:
            self.console.width = 160  # logs and tables in files are not cut at 80 columns
        self._colours: dict[str, str] = {SELF: "bold white"}
        self._width = 8
        self.gone = False  # the reader of our output went away (a closed pipe)

    def _emit(self, write: Any) -> None:
        """Write, unless whoever reads us is gone: a closed pipe must not break supervision
        (signals, restarts, shutdown all print), so further output is dropped."""
        if self.gone:
            return
        try:
            write()
            self.file.flush()
        except (BrokenPipeError, ValueError, OSError):
            self.gone = True

    @property
    def json(self) -> bool:
        return self.log_format == "json"

    def _colour(self, process: str) -> str:
        c = self._colours.get(process)
        if c is None:
            c = self._colours[process] = _COLOURS[(len(self._colours) - 1) % len(_COLOURS)]
        return c

    def register(self, names: list[str]) -> None:
        """Fix colours and the prefix width for these process names."""
        for n in names:
            self._colour(n)
        self._width = max([self._width, *(len(n) for n in names)])

    def line(self, process: str, text: str, stream: str = "stdout", level: str = "info") -> None:
        """One line of output from ``process`` (a child's stdout/stderr, or the supervisor)."""
        if self.json:
            rec: dict[str, Any] = {
                "ts": round(time.time(), 3),
                "process": process,
                "stream": stream,
                "level": level,
                "message": text,
            }
            stripped = text.strip()
            if stripped.startswith("{") and stripped.endswith("}"):
                try:
                    inner = json.loads(stripped)
                except ValueError:
                    inner = None
                if isinstance(inner, dict):
                    rec.update({k: v for k, v in inner.items() if k != "process"})
            self._emit(lambda: self.file.write(json.dumps(rec, default=str) + "\n"))
            return
        from rich.text import Text

        prefix = Text(f"{process:<{self._width}} | ", style=self._colour(process))
        body = Text(text, style="red" if level == "error" else "")
        self._emit(lambda: self.console.print(prefix + body))

    def info(self, message: str, **fields: Any) -> None:
        self._self(message, "info", fields)

    def error(self, message: str, **fields: Any) -> None:
        self._self(message, "error", fields)

    def _self(self, message: str, level: str, fields: dict[str, Any]) -> None:
        if self.json:
            rec: dict[str, Any] = {
                "ts": round(time.time(), 3),
                "process": SELF,
                "stream": "supervisor",
                "level": level,
                "message": message,
            }
            rec.update(fields)
            self._emit(lambda: self.file.write(json.dumps(rec, default=str) + "\n"))
            return
        self.line(SELF, message, "supervisor", level)

    def startup_table(self, rows: list[dict[str, Any]], elapsed: float) -> None:
        """Each service: its processes, state and URL."""
        if self.json:
            self._self(f"ready in {elapsed:.2f} s", "info", {"event": "ready", "services": rows})
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(f"reverie serve: ready in {elapsed:.2f} s"), title_justify="left")
        for col in ("service", "processes", "pids", "state", "url"):
            table.add_column(col)
        for r in rows:
            state = str(r["state"])
            table.add_row(
                Text(r["service"], style="bold"),
                Text(", ".join(r["processes"])),
                Text(", ".join(str(p) for p in r["pids"])),
                Text(state, style="green" if state == ChildState.READY else "red"),
                Text(r.get("url") or "-"),
            )
        self._emit(lambda: self.console.print(table))

    @contextmanager
    def progress(self, names: list[str]) -> Iterator[Any]:
        """A live 'starting...' display (terminals only); yields ``mark(name, state)``."""
        if self.json or not self.console.is_terminal:
            yield lambda name, state: None
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as prog:
            tasks = {n: prog.add_task(f"{n}: waiting", total=1) for n in names}

            def mark(name: str, state: str) -> None:
                t = tasks.get(name)
                if t is not None:
                    done = state in (ChildState.READY, ChildState.FAILED)
                    prog.update(t, description=f"{name}: {state}", completed=1 if done else 0)

            yield mark


def plan_renderable(plan: ServePlan) -> Any:
    """The ``--dry-run`` view: mode, inventory, the services, one row per process, and what
    this node expects from the others."""
    from rich.console import Group

    parts: list[Any] = [*_plan_head(plan), _services_table(plan), _processes_table(plan)]
    if plan.remote:
        parts.append(_expected_table(plan))
    return Group(*parts)


def _plan_head(plan: ServePlan) -> list[Any]:
    from rich.text import Text

    head = [
        Text(f"plan for {plan.target} (entry {plan.entry})", style="bold"),
        Text(f"deployment: {plan.deployment or '(none)'}"),
        Text(f"mode: {plan.mode}" + (f" ({'; '.join(plan.reasons)})" if plan.reasons else "")),
        Text(f"machine: {plan.inventory.describe()}"),
        Text(
            "http: "
            + (
                plan.http_url
                if any(p.http for p in plan.processes)
                else f"none here (the entry, {plan.entry}, runs on another node)"
            )
        ),
        Text(
            "nats: "
            + (
                "embedded nats-server on a free loopback port"
                if plan.nats == "embedded"
                else plan.nats or "none (in-process calls)"
            )
        ),
    ]
    if plan.nats is not None:
        head.append(
            Text(
                f"direct calls: Unix sockets on this machine, TCP on {plan.direct_host.value} "
                f"(from {plan.direct_host.source})"
            )
        )
    if plan.nodes:
        head.append(
            Text(
                f"node: {plan.node or '(all nodes here: no --node)'}; nodes: "
                + "; ".join(f"{n} runs {', '.join(ss)}" for n, ss in plan.nodes.items())
            )
        )
    return head


def _processes_table(plan: ServePlan) -> Any:
    from rich.table import Table
    from rich.text import Text

    from .resources import format_bytes

    table = Table(
        title=Text("processes (start level: each level starts once the previous one is ready)"),
        title_justify="left",
    )
    for col in (
        "process",
        "level",
        "services",
        "cpus",
        "gpus (CUDA_VISIBLE_DEVICES)",
        "memory",
        "env",
        "ports",
    ):
        table.add_column(col)
    for p in plan.processes:
        a = p.alloc
        cpus = ",".join(map(str, a.cpus)) if a.cpus else (f"{a.cpu:g} (shared)" if a.cpu else "-")
        gpus = a.cuda_visible_devices() or "none"
        if a.gpu and a.gpu < 1:
            gpus += f" ({a.gpu:g} share)"
        env = "\n".join(
            f"{k}={v!r} [{p.env_sources.get(k, '')}]" for k, v in sorted(p.shown_env().items())
        )
        ports = (
            f"http {plan.http_port} (shared socket)"
            if p.http and p.count > 1
            else (f"http {plan.http_port}" if p.http else "-")
        )
        table.add_row(
            Text(p.name, style="bold"),
            Text(str(p.level)),
            Text(", ".join(p.services)),
            Text(cpus),
            Text(gpus),
            Text(format_bytes(a.memory) if a.memory else "-"),
            Text(env),
            Text(ports),
        )
    return table


def _services_table(plan: ServePlan) -> Any:
    from rich.table import Table
    from rich.text import Text

    svc = Table(title=Text("services"), title_justify="left")
    cols = ["service", "class", "workers", "source", "depends on", "required"]
    if plan.nodes:
        cols += ["nodes", "placed by"]
    images = any(s.image for s in plan.services)
    if images:
        cols.append("image")
    for col in cols:
        svc.add_column(col)
    for s in plan.services:
        if not s.local:
            continue
        row = [
            Text(s.name, style="bold"),
            Text(s.ref),
            Text(str(s.workers)),
            Text(s.args.workers.source),
            Text(", ".join(s.depends_on) or "-"),
            Text("yes" if s.required else "no"),
        ]
        if plan.nodes:
            row += [Text(", ".join(s.nodes)), Text(s.node_source)]
        if images:
            row.append(Text(s.image or "-"))
        svc.add_row(*row)
    return svc


def _expected_table(plan: ServePlan) -> Any:
    from rich.table import Table
    from rich.text import Text

    exp = Table(
        title=Text(
            "expected from the other nodes (over NATS; this node waits "
            "for a live instance of each before starting what needs it)"
        ),
        title_justify="left",
    )
    for col in ("service", "nodes", "placed by", "runtime address", "needed by"):
        exp.add_column(col)
    for s in plan.remote:
        users = [u.name for u in plan.services if u.local and s.name in u.depends_on]
        exp.add_row(
            Text(s.name, style="bold"),
            Text(", ".join(s.nodes)),
            Text(s.node_source),
            Text(f"{s.args.namespace.value}/{s.args.name.value}"),
            Text(", ".join(users) or "-"),
        )
    return exp


def print_plan(plan: ServePlan, console: Console) -> None:
    console.print(plan_renderable(plan))
