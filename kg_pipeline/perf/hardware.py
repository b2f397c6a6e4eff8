"""What machine a benchmark ran on. A figure that cannot be read is reported as such, never as
a made-up zero."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown (no /proc/cpuinfo)"


def _memory_gib() -> float | str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return "unknown (no /proc/meminfo)"


def _gpus() -> list[dict[str, Any]] | str:
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(query, capture_output=True, text=True, timeout=20, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"nvidia-smi failed: {exc}"
        gpus = []
        for line in out.stdout.strip().splitlines():
            name, memory = (part.strip() for part in line.split(",", 1))
            gpus.append({"name": name, "vram_mib": int(memory)})
        return gpus
    if shutil.which("rocm-smi"):
        try:
            out = subprocess.run(
                ["rocm-smi", "--showproductname"], capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"rocm-smi failed: {exc}"
        return [{"rocm_smi": out.stdout.strip()}]
    return "not available: neither nvidia-smi nor rocm-smi is on PATH (CPU only)"


def hardware_profile() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpus": _gpus(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
