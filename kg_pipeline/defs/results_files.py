"""The files reports and extraction records are written to, besides Dagster's own storage: one
place for every asset that writes one, so that no asset module imports another for it."""

from __future__ import annotations

from pathlib import Path

from kg_pipeline.settings import RESULTS_DIR


def results_dir() -> Path:
    """Where reports and extraction records land as files, besides Dagster's own storage."""
    return RESULTS_DIR.get()


def write_atomically(path: Path, text: str) -> None:
    """Readers never see a half-written file, and a re-run replaces rather than appends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
