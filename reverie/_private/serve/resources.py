"""Explicit resources: the machine's inventory and the CPUs/GPUs assigned to each worker.

Nothing is allocated implicitly. The inventory is detected (``os.sched_getaffinity`` for CPUs,
``nvidia-smi -L`` for GPUs, physical memory from ``sysconf``) or given (``--cpus N``,
``--gpus N``), and the plan says which. Each worker that asks for whole CPUs gets that many
distinct cores (pinned in the child with ``os.sched_setaffinity``); each worker that asks for GPUs
gets distinct devices (``CUDA_VISIBLE_DEVICES``); fractions share. A plan asking for more than
the machine has fails before anything starts, naming the service and the numbers.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from reverie.errors import ConfigError

__all__ = [
    "Allocation",
    "Inventory",
    "WorkerRequest",
    "allocate",
    "detect_inventory",
    "format_bytes",
    "parse_cpu",
    "parse_memory",
]

_UNITS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "P": 1000**5,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
}
_MEM = re.compile(r"^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P|k)?$")


@dataclass
class Inventory:
    """What this machine offers, and how each figure was found (shown in the plan)."""

    cpus: list[int]
    gpus: list[int]
    memory: int | None
    cpu_source: str
    gpu_source: str
    memory_source: str = "sysconf"

    def describe(self) -> str:
        mem = format_bytes(self.memory) if self.memory else "unknown"
        return (
            f"{len(self.cpus)} CPUs ({self.cpu_source}), {len(self.gpus)} GPUs "
            f"({self.gpu_source}), memory {mem} ({self.memory_source})"
        )


def _detect_cpus() -> tuple[list[int], str]:
    getaff = getattr(os, "sched_getaffinity", None)
    if getaff is not None:
        return sorted(getaff(0)), "os.sched_getaffinity"
    return list(range(os.cpu_count() or 1)), "os.cpu_count"


def _detect_gpus() -> tuple[list[int], str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], "no nvidia-smi on PATH"
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"nvidia-smi -L failed: {exc}"
    if out.returncode != 0:
        return [], f"nvidia-smi -L exited {out.returncode}"
    count = sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
    return list(range(count)), "nvidia-smi -L"


def _detect_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def detect_inventory(cpus: int | None = None, gpus: int | None = None) -> Inventory:
    """The machine's CPUs, GPUs and memory; ``cpus``/``gpus`` override detection."""
    if cpus is not None:
        if cpus < 1:
            raise ConfigError(f"--cpus {cpus} must be at least 1", key="cpus", source="--cpus")
        detected, _ = _detect_cpus()
        # Keep real core ids when there are enough, so pinning still works.
        cpu_ids = detected[:cpus] if len(detected) >= cpus else list(range(cpus))
        cpu_source = "--cpus"
    else:
        cpu_ids, cpu_source = _detect_cpus()
    if gpus is not None:
        if gpus < 0:
            raise ConfigError(f"--gpus {gpus} must be 0 or more", key="gpus", source="--gpus")
        gpu_ids, gpu_source = list(range(gpus)), "--gpus"
    else:
        gpu_ids, gpu_source = _detect_gpus()
    return Inventory(cpu_ids, gpu_ids, _detect_memory(), cpu_source, gpu_source)


def parse_cpu(value: Any) -> float:
    """``2`` -> 2.0, ``"1.5"`` -> 1.5, ``"500m"`` -> 0.5."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if text.endswith("m"):
        return float(text[:-1]) / 1000.0
    return float(text)


def parse_memory(value: Any) -> int:
    """Bytes from ``8Gi``, ``512Mi``, ``2G`` or a plain number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    m = _MEM.match(str(value).strip())
    if m is None:
        raise ValueError(f"not a memory size: {value!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def format_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if n >= size:
            return f"{n / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{n}B"


@dataclass
class WorkerRequest:
    """What one worker asks for; ``source`` is where (``deploy.yaml:12``)."""

    key: str  # process name, e.g. "Worker-2"
    service: str
    cpu: float | None = None
    gpu: float | None = None
    memory: int | None = None
    cpu_source: str = ""
    gpu_source: str = ""
    memory_source: str = ""


@dataclass
class Allocation:
    """What one worker got: pinned CPU ids, GPU ids, and its figures as asked."""

    cpus: list[int] = field(default_factory=list)
    gpus: list[int] = field(default_factory=list)
    cpu: float | None = None
    gpu: float | None = None
    memory: int | None = None

    def cuda_visible_devices(self) -> str:
        return ",".join(str(g) for g in self.gpus)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _over(
    what: str,
    unit: str,
    reqs: list[WorkerRequest],
    amount: Any,
    total: float,
    have: float,
    source: str,
) -> ConfigError:
    by_service: dict[str, list[WorkerRequest]] = {}
    for r in reqs:
        if amount(r):
            by_service.setdefault(r.service, []).append(r)
    parts = []
    for svc, rs in by_service.items():
        each = amount(rs[0])
        parts.append(f"{svc} {len(rs)} worker(s) x {unit} {_fmt(each)}")
    biggest = max(by_service, key=lambda s: sum(amount(r) for r in by_service[s]))
    # The line that set the named service's amount, not the first service's.
    cited = getattr(by_service[biggest][0], f"{what}_source")
    return ConfigError(
        f"the plan needs {_fmt(total)} {unit.upper()}s ({'; '.join(parts)}) but the machine has "
        f"{_fmt(have)} ({source})",
        service=biggest,
        key=f"resources.{unit}",
        source=cited or None,
        fix=f"lower workers or resources.{unit} in the deployment file, or state the machine's "
        f"{unit.upper()}s with --{unit}s N if detection is wrong",
    )


def allocate(requests: list[WorkerRequest], inv: Inventory) -> dict[str, Allocation]:
    """Assign CPUs and GPUs to each worker; raise ``ConfigError`` when the machine is short."""
    _check_fits(requests, inv)
    return _assign(requests, inv)


def _gpus_needed(requests: list[WorkerRequest]) -> int:
    """The GPUs the plan needs: whole ones, plus shared ones packed first-fit with fractions."""
    whole_gpu = sum(math.ceil(r.gpu) for r in requests if r.gpu and r.gpu >= 1)
    frac = sorted((r.gpu for r in requests if r.gpu and r.gpu < 1), reverse=True)
    # First-fit packing of fractions onto shared GPUs.
    bins: list[float] = []
    for f in frac:
        for i, used in enumerate(bins):
            if used + f <= 1.0 + 1e-9:
                bins[i] = used + f
                break
        else:
            bins.append(f)
    return whole_gpu + len(bins)


def _check_fits(requests: list[WorkerRequest], inv: Inventory) -> None:
    """Raise ``ConfigError`` when the plan asks for more CPUs, GPUs or memory than ``inv``."""
    total_cpu = sum(r.cpu or 0.0 for r in requests)
    if total_cpu > len(inv.cpus) + 1e-9:
        raise _over(
            "cpu", "cpu", requests, lambda r: r.cpu or 0.0, total_cpu, len(inv.cpus), inv.cpu_source
        )
    needed_gpu = _gpus_needed(requests)
    if needed_gpu > len(inv.gpus):
        raise _over(
            "gpu",
            "gpu",
            requests,
            lambda r: r.gpu or 0.0,
            needed_gpu,
            len(inv.gpus),
            inv.gpu_source,
        )
    total_mem = sum(r.memory or 0 for r in requests)
    if inv.memory is not None and total_mem > inv.memory:
        worst = max((r for r in requests if r.memory), key=lambda r: r.memory or 0)
        raise ConfigError(
            f"the plan needs {format_bytes(total_mem)} of memory but the machine has "
            f"{format_bytes(inv.memory)} ({inv.memory_source})",
            service=worst.service,
            key="resources.memory",
            source=worst.memory_source or None,
            fix="lower workers or resources.memory in the deployment file",
        )


def _assign(requests: list[WorkerRequest], inv: Inventory) -> dict[str, Allocation]:
    """Hand out the CPUs and GPUs of ``inv`` to ``requests``, which are known to fit."""
    out: dict[str, Allocation] = {}
    next_cpu = 0
    next_gpu = 0
    shared: list[tuple[int, float]] = []  # (gpu id, used fraction)
    # Whole CPUs are pinned; fractions are counted but float over every core.
    for r in requests:
        alloc = Allocation(cpu=r.cpu, gpu=r.gpu, memory=r.memory)
        if r.cpu and r.cpu >= 1 and float(r.cpu).is_integer():
            n = int(r.cpu)
            alloc.cpus = inv.cpus[next_cpu : next_cpu + n]
            next_cpu += n
        out[r.key] = alloc
    for r in requests:
        if r.gpu and r.gpu >= 1:
            n = math.ceil(r.gpu)
            out[r.key].gpus = inv.gpus[next_gpu : next_gpu + n]
            next_gpu += n
    for r in sorted((r for r in requests if r.gpu and r.gpu < 1), key=lambda r: -(r.gpu or 0.0)):
        f = r.gpu or 0.0
        for i, (gid, used) in enumerate(shared):
            if used + f <= 1.0 + 1e-9:
                shared[i] = (gid, used + f)
                out[r.key].gpus = [gid]
                break
        else:
            gid = inv.gpus[next_gpu]
            next_gpu += 1
            shared.append((gid, f))
            out[r.key].gpus = [gid]
    return out
