"""The supervisor: runs a plan's processes, in dependency order, and takes them all down again.

Every worker is a child in its own process group, told to die with the supervisor
(``PR_SET_PDEATHSIG`` and a control pipe whose EOF it watches). All children are spawned at once
so their imports overlap, but each start level only gets ``go`` once the level before reported
ready. A crashed worker is restarted with exponential backoff; one that crashes ``max_restarts``
times within ``restart_window`` seconds is marked failed (and the run ends with exit code 1 when
a required service lives in it). SIGINT/SIGTERM stop the levels in reverse (the entry first, so
in-flight requests drain through services that are still up), SIGKILL whatever outlives the
grace period, then stop the embedded nats-server. The second signal skips the waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from typing import Any

from ..http.access import INTERNAL_KEY_ENV
from ..redact import shown_url
from .child import SAME_SIGNAL_WINDOW, Child, RestartPolicy, describe_exit, set_pdeathsig
from .output import Output
from .plan_types import ServePlan
from .spawn import start_worker
from .status import INSTANCE, ChildState, read_lines, read_status

__all__ = ["Child", "RestartPolicy", "Supervisor", "set_pdeathsig"]

EXIT_OK = 0
EXIT_FAILED = 1


class Supervisor:
    """Runs the processes of a ``ServePlan``; ``await run()`` returns the exit code."""

    def __init__(
        self,
        plan: ServePlan,
        output: Output,
        *,
        sock: Any = None,
        drain_timeout: float = 10.0,
        grace: float = 5.0,
        start_timeout: float = 60.0,
        policy: RestartPolicy | None = None,
        log_format: str = "text",
        log_level: str = "info",
        access_log: bool = True,
        http_limits: dict[str, Any] | None = None,
    ) -> None:
        self.plan = plan
        self.http_limits = dict(http_limits or {})
        #: One internal key for every process of this run (unless the environment sets one):
        #: a request the HTTP process carries to another process is checked against the same key.
        self.internal_key = os.environ.get(INTERNAL_KEY_ENV) or secrets.token_urlsafe(32)
        self.log_level = log_level
        self.access_log = access_log
        self.out = output
        self.sock = sock
        self.drain_timeout = drain_timeout
        self.grace = grace
        self.start_timeout = start_timeout
        self.policy = policy or RestartPolicy()
        self.log_format = log_format
        self.children = {p.name: Child(p) for p in plan.processes}
        self.nats_url: str | None = None
        self._nats: Any = None
        self.stop_requested = asyncio.Event()
        self.stopping = False
        self.fatal: str | None = None
        self._signals = 0
        self._first_signal = 0.0
        self._mark: Any = lambda name, state: None
        self._spawn_lock = asyncio.Lock()

    # -- running ----------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            try:
                started = await self._start_all()
            except Exception as exc:
                self.fatal = self.fatal or f"{type(exc).__name__}: {exc}"
                started = False
            if started:
                watch = asyncio.ensure_future(self._watch_nats())
                await self.stop_requested.wait()
                watch.cancel()
        finally:
            await self.shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if self.fatal:
            self.out.error(f"serve failed: {self.fatal}")
            return EXIT_FAILED
        self.out.info("stopped cleanly")
        return EXIT_OK

    def _on_signal(self, sig: int) -> None:
        now = time.monotonic()
        if self._signals and now - self._first_signal < SAME_SIGNAL_WINDOW:
            return  # the same request twice (sent to us and to our group, as `timeout` does)
        self._signals += 1
        name = signal.Signals(sig).name
        if self._signals == 1:
            self._first_signal = now
            self.out.info(
                f"{name}: shutting down (drain timeout {self.drain_timeout:g} s; "
                f"send it again to kill at once)"
            )
            self.stop_requested.set()
        else:
            self.out.info(f"{name} again: killing every child now")
            self.fatal = self.fatal or (
                f"stopped by a second {name}: children were killed and in-flight requests cut"
            )
            for child in self.children.values():
                self._kill_group(child)

    async def _start_all(self) -> bool:
        t0 = time.monotonic()
        await self._start_nats()
        self.out.register(list(self.children))
        names = [p.name for p in self.plan.processes]
        with self.out.progress(names) as mark:
            self._mark = mark
            for child in self.children.values():
                await self._spawn(child)
            for level in self.plan.levels():
                group = [self.children[p.name] for p in level]
                for child in group:
                    self._go(child)
                    mark(child.name, "starting")
                if not await self._wait_ready(group):
                    return False
        self._mark = lambda name, state: None
        self._table(time.monotonic() - t0)
        return True

    async def _wait_ready(self, group: list[Child]) -> bool:
        """True once every child of the group is ready; False on failure, stop or timeout."""
        waits = {asyncio.ensure_future(c.ready.wait()): c for c in group}
        stop = asyncio.ensure_future(self.stop_requested.wait())
        deadline = time.monotonic() + self.start_timeout
        try:
            pending = set(waits)
            while pending:
                if self.fatal or self.stop_requested.is_set():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    slow = ", ".join(waits[w].name for w in pending)
                    self.fatal = (
                        f"{slow} did not become ready within {self.start_timeout:g} s "
                        f"(--start-timeout)"
                    )
                    return False
                _, pending = await asyncio.wait(
                    pending | {stop}, timeout=min(left, 0.5), return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stop)
            return not self.fatal
        finally:
            stop.cancel()
            for w in waits:
                w.cancel()

    def _table(self, elapsed: float) -> None:
        rows = []
        for s in self.plan.services:
            if not s.local:
                continue
            kids = [c for c in self.children.values() if s.name in c.plan.services]
            states = {c.state for c in kids}
            state = "ready" if states == {ChildState.READY} else ",".join(sorted(states))
            url = None if s.url_path is None else f"{self.plan.http_url}/{s.url_path}"
            rows.append(
                {
                    "service": s.name,
                    "processes": [c.name for c in kids],
                    "pids": [c.pid for c in kids],
                    "state": state,
                    "url": url,
                }
            )
        self.out.startup_table(rows, elapsed)
        for s in self.plan.remote:
            self.out.info(
                f"{s.name}: on node(s) {', '.join(s.nodes)}, reached over NATS at "
                f"{s.args.namespace.value}/{s.args.name.value}"
            )
        if self.nats_url:
            self.out.info(
                f"nats: {shown_url(self.nats_url)}"
                + (" (embedded nats-server)" if self._nats is not None else "")
            )

    # -- nats -------------------------------------------------------------------------------------

    async def _start_nats(self) -> None:
        if self.plan.nats and self.plan.nats != "embedded":
            self.nats_url = self.plan.nats
            return
        from .natsd import start_embedded

        self._nats = await start_embedded(self.plan, self.out)
        self.nats_url = self._nats.url

    async def _watch_nats(self) -> None:
        """Restart the embedded nats-server on its port if it dies; workers reconnect."""
        if self._nats is None:
            return
        from .natsd import keep_alive

        fatal = await keep_alive(self._nats, self.out, self.policy, lambda: self.stopping)
        if fatal is not None:
            self.fatal = fatal
            self.stop_requested.set()

    # -- children ---------------------------------------------------------------------------------

    async def _spawn(self, child: Child) -> None:
        # The listening socket is never inheritable: only an entry worker gets it, as a dup
        # made inheritable for its own spawn and closed right after. Spawns are serialised, so
        # no other child (nor the nats-server) can inherit that dup, whatever the event loop
        # does with pass_fds (uvloop's subprocess has ignored it in some versions).
        async with self._spawn_lock:
            proc, ctl_w, st_r = await start_worker(self, child)
        child.proc = proc
        child.pgids.add(proc.pid)
        if self._nats is not None:
            self._nats.note_workers(
                [c.pid for c in self.children.values() if c.alive and c.pid is not None]
            )
        child.ctl = ctl_w
        child.state = ChildState.LOADING
        child.ready.clear()
        child.url = None
        child.tasks = [
            asyncio.ensure_future(self._pump(child, proc.stdout, "stdout")),
            asyncio.ensure_future(self._pump(child, proc.stderr, "stderr")),
            asyncio.ensure_future(self._status(child, st_r)),
            asyncio.ensure_future(self._watch(child, proc)),
        ]

    def _go(self, child: Child) -> None:
        if child.ctl is not None:
            with contextlib.suppress(OSError):
                os.write(child.ctl, b"go\n")

    async def _pump(self, child: Child, stream: asyncio.StreamReader | None, name: str) -> None:
        async for text in read_lines(stream):
            if name == "stderr":
                child.stderr_tail.append(text)
            self.out.line(child.name, text, name)

    async def _status(self, child: Child, fd: int) -> None:
        async for event in read_status(fd):
            self._on_event(child, event)

    def _on_event(self, child: Child, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == ChildState.READY:
            child.state = ChildState.READY
            child.url = event.get("url")
            child.ready.set()
            self._mark(child.name, ChildState.READY)
            if child.restarts:
                self.out.info(f"{child.name} is back (pid {child.pid}, restart {child.restarts})")
                if child.plan.http:
                    self._rebalance(child)
        elif kind == ChildState.FAILED:
            child.error = str(event.get("error"))
            child.state = ChildState.FAILED
            self._mark(child.name, ChildState.FAILED)
        elif kind == ChildState.LOADED:
            if child.state == ChildState.LOADING:
                child.state = ChildState.LOADED
        elif kind in (ChildState.STOPPING, ChildState.STOPPED):
            child.state = ChildState(kind)
        elif kind == INSTANCE and child.state != ChildState.READY:
            self._mark(child.name, f"{event.get('service')} {event.get('state')}")

    def _replicas(self, service: str, besides: Child) -> list[Child]:
        """The other workers of ``service`` that have not been given up on."""
        return [
            c
            for c in self.children.values()
            if c is not besides and service in c.plan.services and c.state != ChildState.FAILED
        ]

    def _rebalance(self, back: Child) -> None:
        """An entry worker is back: the others' keep-alive clients would stay with them for
        good, so each is told to close its connections after their next response."""
        entry = [c for c in self.children.values() if c.plan.http and c.alive]
        for other in entry:
            if other is not back and other.ctl is not None:
                with contextlib.suppress(OSError):
                    os.write(other.ctl, f"rebalance {len(entry)}\n".encode())

    async def _watch(self, child: Child, proc: asyncio.subprocess.Process) -> None:
        """Wait for ``child``'s process to exit, then restart it, give up on it, or end the run."""
        code = await proc.wait()
        await self._after_exit(child)
        if self.stopping:
            child.state = ChildState.STOPPED
            return
        how = describe_exit(code)
        if not child.ready.is_set() and child.restarts == 0:
            self._failed_starting(child, how)
            return
        now = time.monotonic()
        child.crashes.append(now)
        recent = sum(1 for t in child.crashes if now - t <= self.policy.window)
        child.ready.clear()
        if recent > self.policy.max_restarts:
            self._give_up(child, recent, how)
            return
        delay = self.policy.delay(recent)
        child.state = ChildState.RESTARTING
        self.out.error(
            f"{child.name} (pid {proc.pid}) {how}; restarting in {delay:.2f} s "
            f"(crash {recent} of {self.policy.max_restarts} allowed within "
            f"{self.policy.window:g} s)"
        )
        self._kill_group(child)  # its own children, if any, go with it
        try:
            await asyncio.wait_for(self.stop_requested.wait(), delay)
            return  # shutting down meanwhile
        except TimeoutError:
            pass
        if self.stopping:
            return
        child.restarts += 1
        child.error = None
        await self._spawn(child)
        self._go(child)

    async def _after_exit(self, child: Child) -> None:
        """Let an exited child's first tasks finish (within 1 s) and close its control pipe."""
        await _settle(child.tasks[:3], 1.0, cancel=False)
        if child.ctl is not None:
            with contextlib.suppress(OSError):
                os.close(child.ctl)
            child.ctl = None

    def _failed_starting(self, child: Child, how: str) -> None:
        """``child`` exited during its first start: end the run, saying why."""
        # Failed during the first start: that is a broken deployment, not a crash.
        why = child.error or (" | ".join(list(child.stderr_tail)[-3:]) or "no output")
        child.state = ChildState.FAILED
        self.fatal = f"{child.name} failed while starting ({how}): {why}"
        self.stop_requested.set()

    def _give_up(self, child: Child, recent: int, how: str) -> None:
        """``child`` crashed too often: mark it failed, and end the run if that loses a service."""
        child.state = ChildState.FAILED
        required = [s for s in child.plan.services if self.plan.service(s).required]
        msg = (
            f"{child.name} crashed {recent} times within {self.policy.window:g} s "
            f"(last: {how}); not restarting it"
        )
        if child.error:
            msg += f"; last error: {child.error}"
        # A replica's failure costs that replica: the run ends only when a required
        # service has no other worker left that is not failed (docs/serve.md).
        lost = [s for s in required if not self._replicas(s, child)]
        if lost:
            self.out.error(msg)
            self.fatal = f"{msg}; it runs required service(s) {', '.join(lost)}"
            self.stop_requested.set()
            return
        kept = "; ".join(
            f"{s} keeps running on {', '.join(c.name for c in self._replicas(s, child))}"
            for s in child.plan.services
        )
        self.out.error(f"{msg}; {kept} (reduced capacity)")

    # -- stopping ---------------------------------------------------------------------------------

    def _kill_group(self, child: Child) -> None:
        for pgid in list(child.pgids):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                child.pgids.discard(pgid)

    async def shutdown(self) -> None:
        """Stop levels in reverse start order; SIGKILL what outlives drain + grace."""
        if self.stopping:
            return
        self.stopping = True
        if self.sock is not None:
            # Our copy of the listening socket goes first: once the entry workers close
            # theirs, new connections are refused instead of waiting in a dead backlog.
            with contextlib.suppress(OSError):
                self.sock.close()
        for level in reversed(self.plan.levels()):
            group = [self.children[p.name] for p in level]
            alive = [c for c in group if c.alive]
            for c in alive:
                with contextlib.suppress(ProcessLookupError):
                    assert c.proc is not None
                    c.proc.send_signal(signal.SIGTERM)
                    c.state = ChildState.STOPPING
            if alive:
                await self._wait_exit(alive, self.drain_timeout + self.grace)
        for c in self.children.values():
            if c.alive:
                await self._wait_exit([c], 0.1)
            self._kill_group(c)  # leftovers of the group (its children), always
        for c in self.children.values():
            await _settle(c.tasks, 2.0, cancel=True)
        if self._nats is not None:
            await self._nats.stop()
            self._nats.cleanup()

    async def _wait_exit(self, children: list[Child], timeout: float) -> None:
        procs = [c.proc for c in children if c.proc is not None]
        waits = [asyncio.ensure_future(p.wait()) for p in procs]
        _, pending = await asyncio.wait(waits, timeout=timeout) if waits else (set(), set())
        if pending:
            late = [c for c in children if c.alive]
            self.out.error(
                f"{', '.join(c.name for c in late)} did not stop within {timeout:g} s; killing"
            )
            for c in late:
                self._kill_group(c)
            await asyncio.wait(pending, timeout=5.0)


async def _settle(tasks: list[asyncio.Task[Any]], timeout: float, *, cancel: bool) -> None:
    """Wait up to ``timeout`` for a child's tasks to end, whatever their outcome; cancel those
    still running when ``cancel``. The caller's own cancellation propagates (never swallowed)."""
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in done:
        if not t.cancelled():
            t.exception()  # retrieved: how a pipe reader ended is not this wait's concern
    if cancel:
        for t in pending:
            t.cancel()
