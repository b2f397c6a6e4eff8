"""What machine a benchmark ran on, and how much GPU memory it has. A figure that cannot be read is
reported as such, never as a made-up zero."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kg_pipeline.errors import KgError

_MIB = 1024**2
_GIB = 1024**3


@dataclass(frozen=True)
class Gpu:
    name: str
    vram_bytes: int

    @property
    def vram_gib(self) -> float:
        return self.vram_bytes / _GIB


class GpuQueryError(KgError, RuntimeError):
    """A GPU tool is installed but did not answer (no driver loaded, a container without the
    device): the machine's GPUs are unknown, which is not the same as having none."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown (no /proc/cpuinfo)"


def memory_bytes() -> int | None:
    """Total RAM, or None where /proc/meminfo cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _memory_gib() -> float | str:
    total = memory_bytes()
    return round(total / _GIB, 1) if total is not None else "unknown (no /proc/meminfo)"


def _run(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise GpuQueryError(
            f"{Path(command[0]).name} failed (exit {exc.returncode}"
            f"{': ' + detail[0] if detail else ''})"
        ) from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise GpuQueryError(f"{Path(command[0]).name} failed: {exc}") from exc
    return out.stdout


def _nvidia_gpus(executable: str) -> list[Gpu]:
    query = [executable, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
    gpus = []
    for line in _run(query).strip().splitlines():
        try:
            name, memory = (part.strip() for part in line.rsplit(",", 1))
            gpus.append(Gpu(name=name, vram_bytes=int(float(memory)) * _MIB))  # MiB
        except ValueError as exc:
            raise GpuQueryError(f"nvidia-smi printed an unexpected line: {line!r}") from exc
    return gpus


def _rocm_gpus(executable: str) -> list[Gpu]:
    out = _run([executable, "--showproductname", "--showmeminfo", "vram", "--json"])
    try:
        cards = json.loads(out)
    except json.JSONDecodeError as exc:
        raise GpuQueryError(f"rocm-smi printed no JSON: {out[:200]!r}") from exc
    gpus = []
    for card, fields in sorted(cards.items()):
        if not isinstance(fields, dict):
            continue
        total = next((v for k, v in fields.items() if "VRAM Total Memory" in k), None)
        if total is None:
            continue
        name = fields.get("Card series") or fields.get("Card SKU") or card
        gpus.append(Gpu(name=str(name), vram_bytes=int(total)))  # bytes
    return gpus


def query_gpus() -> tuple[str | None, list[Gpu]]:
    """(tool that answered, its GPUs); (None, []) when neither nvidia-smi nor rocm-smi is on
    PATH. Raises ``GpuQueryError`` when a tool is there but fails."""
    for tool, read in (("nvidia-smi", _nvidia_gpus), ("rocm-smi", _rocm_gpus)):
        executable = shutil.which(tool)
        if executable:
            return tool, read(executable)
    return None, []


def _gpus() -> list[dict[str, Any]] | str:
    try:
        tool, gpus = query_gpus()
    except GpuQueryError as exc:
        return str(exc)
    if tool is None:
        return "not available: neither nvidia-smi nor rocm-smi is on PATH (CPU only)"
    return [{"name": g.name, "vram_mib": g.vram_bytes // _MIB} for g in gpus]


def hardware_profile() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
