"""What the server process used while a benchmark level ran: resident memory, CPU, GPU
utilisation and VRAM, sampled in a background thread from Linux's /proc and nvidia-smi or
rocm-smi (no psutil).

A figure that cannot be read is reported as ``"not available: <why>"``, never as a zero: a zero
would read as "used nothing", which is a claim. Memory and CPU cover the server process and its
descendants (see processes.py). GPU figures are for the whole GPU(s), every process on them:
neither tool attributes utilisation to a process, and on a benchmark box the server is the GPU's
only user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from statistics import fmean
from types import TracebackType
from typing import Any

from kg_pipeline.perf.processes import PROC, process_tree

METRICS = ("rss_mib", "cpu_percent", "gpu_util_percent", "vram_used_mib")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_GPU_TIMEOUT_S = 10.0
_NVIDIA_QUERY = [
    "nvidia-smi",
    "--query-gpu=utilization.gpu,memory.used",
    "--format=csv,noheader,nounits",
]
_ROCM_QUERY = ["rocm-smi", "--showuse", "--showmeminfo", "vram", "--json"]

Reading = dict[str, float | str]  # metric -> value, or the reason it could not be read


def read_rss_mib(pid: int) -> float:
    """VmRSS of one process; raises OSError once it has exited, ValueError for a kernel thread
    (which has no VmRSS line)."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    raise ValueError(f"process {pid} reports no VmRSS")


def read_cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used since it started."""
    stat = (PROC / str(pid) / "stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state) of proc(5)
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND  # utime, stime


def _number(text: str, tool: str, what: str) -> float | str:
    try:
        return float(text.strip())
    except ValueError:
        return f"not available: {tool} reports {text.strip()!r} for {what}"


def _combine(values: list[float | str], combine: Callable[[list[float]], float]) -> float | str:
    """One figure over all GPUs, or the first GPU's reason when any GPU could not be read."""
    reasons = [v for v in values if isinstance(v, str)]
    if reasons:
        return reasons[0]
    return combine([float(v) for v in values])


def _nvidia(out: str) -> Reading:
    rows = [line.split(",") for line in out.strip().splitlines() if line.strip()]
    if not rows or any(len(row) != 2 for row in rows):
        reason = f"not available: nvidia-smi printed {out.strip()[:80]!r}"
        return dict.fromkeys(("gpu_util_percent", "vram_used_mib"), reason)
    return {
        # Mean utilisation across GPUs (a tensor-parallel server keeps all of them equally busy);
        # total VRAM used across them.
        "gpu_util_percent": _combine(
            [_number(r[0], "nvidia-smi", "utilization.gpu") for r in rows], fmean
        ),
        "vram_used_mib": _combine([_number(r[1], "nvidia-smi", "memory.used") for r in rows], sum),
    }


def _rocm(out: str) -> Reading:
    try:
        cards = [v for k, v in json.loads(out).items() if k.startswith("card")]
    except (ValueError, AttributeError):
        cards = []
    if not cards:
        reason = f"not available: rocm-smi printed {out.strip()[:80]!r}"
        return dict.fromkeys(("gpu_util_percent", "vram_used_mib"), reason)
    used = [_number(str(c.get("VRAM Total Used Memory (B)")), "rocm-smi", "VRAM") for c in cards]
    return {
        "gpu_util_percent": _combine(
            [_number(str(c.get("GPU use (%)")), "rocm-smi", "GPU use") for c in cards], fmean
        ),
        "vram_used_mib": _combine([v / 1024**2 if isinstance(v, float) else v for v in used], sum),
    }


def read_gpu() -> Reading:
    """GPU utilisation % and VRAM used (MiB) from nvidia-smi, else rocm-smi."""
    for query, parse in ((_NVIDIA_QUERY, _nvidia), (_ROCM_QUERY, _rocm)):
        tool = query[0]
        if not shutil.which(tool):
            continue
        try:
            done = subprocess.run(
                query, capture_output=True, text=True, timeout=_GPU_TIMEOUT_S, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            reason = f"not available: {tool} failed: {exc}"
            return dict.fromkeys(("gpu_util_percent", "vram_used_mib"), reason)
        return parse(done.stdout)
    reason = "not available: neither nvidia-smi nor rocm-smi is on PATH (no GPU to read)"
    return dict.fromkeys(("gpu_util_percent", "vram_used_mib"), reason)


class ResourceSampler:
    """Samples a server process (and its descendants) every ``interval`` seconds between
    ``start`` and ``stop``; also once at each end, so a level shorter than the interval still has
    a reading and one CPU interval."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.values: dict[str, list[float]] = {m: [] for m in METRICS}
        self.reasons: dict[str, str] = {}
        self.readings = 0  # the first has no CPU figure: CPU % needs two readings
        self._cpu: dict[int, float] = {}  # CPU seconds per process at the previous sample
        self._cpu_at = 0.0
        self._cpu_seconds = 0.0  # used by the process tree between the first and last reading
        self._processes = 0
        self._started = 0.0
        self._stopped = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sample-{pid}", daemon=True)

    def start(self) -> ResourceSampler:
        self._started = time.perf_counter()
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        self.sample()
        self._stopped = time.perf_counter()
        return self.summary()

    def __enter__(self) -> ResourceSampler:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not self._stop.is_set():
            self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        self.readings += 1
        self._sample_process()
        for metric, value in read_gpu().items():
            self._record(metric, value)

    def _record(self, metric: str, value: float | str) -> None:
        if isinstance(value, str):
            self.reasons[metric] = value
        else:
            self.values[metric].append(value)

    def _sample_process(self) -> None:
        now = time.perf_counter()
        rss = 0.0
        cpu: dict[int, float] = {}
        for pid in process_tree(self.pid):
            try:
                rss += read_rss_mib(pid)
                cpu[pid] = read_cpu_seconds(pid)
            except (OSError, ValueError, IndexError) as exc:
                if pid == self.pid:  # the server itself is gone; a child may come and go
                    reason = f"not available: cannot read /proc/{pid} ({exc})"
                    self._record("rss_mib", reason)
                    self._record("cpu_percent", reason)
                    return
        self._processes = max(self._processes, len(cpu))
        self._record("rss_mib", rss)
        if self._cpu_at:
            # A process absent last time started since then: all its CPU time is new.
            used = sum(seconds - self._cpu.get(pid, 0.0) for pid, seconds in cpu.items())
            self._cpu_seconds += used
            self._record("cpu_percent", 100 * used / (now - self._cpu_at))
        self._cpu, self._cpu_at = cpu, now

    def summary(self) -> dict[str, Any]:
        """Mean and max of each metric with its sample count, or why it could not be read."""
        result: dict[str, Any] = {
            "pid": self.pid,
            "processes": self._processes,
            "readings": self.readings,
            "interval_s": self.interval,
            "window_s": round((self._stopped or time.perf_counter()) - self._started, 3),
        }
        for metric in METRICS:
            values = self.values[metric]
            if values:
                result[metric] = {"mean": fmean(values), "max": max(values), "samples": len(values)}
            else:
                result[metric] = self.reasons.get(
                    metric, "not available: the level ended before a second reading"
                )
        # Total CPU time over the window: divided by the requests served, the CPU cost of one.
        cpu = result["cpu_percent"]
        result["cpu_seconds"] = cpu if isinstance(cpu, str) else round(self._cpu_seconds, 3)
        return result
