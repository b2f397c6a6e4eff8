"""PNG plots saved beside each quality report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from kg_pipeline.quality.calibration import reliability_bins
from kg_pipeline.quality.report import QualityReport


def plot_reliability(report: QualityReport, path: Path) -> Path:
    """Stated confidence against how often such relationships matched; the diagonal is perfect."""
    bins = [b for b in reliability_bins(report.relationships().outcomes) if b.count]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if bins:
        ax.bar(
            [(b.low + b.high) / 2 for b in bins],
            [b.accuracy or 0.0 for b in bins],
            width=0.09,
            alpha=0.7,
            label="share matched",
        )
        for b in bins:
            ax.annotate(
                str(b.count), ((b.low + b.high) / 2, (b.accuracy or 0.0) + 0.02), ha="center"
            )
    ax.set(xlim=(0, 1), ylim=(0, 1.05), title=f"Calibration: {report.model}")
    ax.set(xlabel="stated confidence", ylabel="share of relationships matched")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_f1_by_category(report: QualityReport, path: Path) -> Path:
    categories = report.categories
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(categories)), 4))
    width = 0.8 / max(len(report.levels), 1)
    for offset, level in enumerate(report.levels):
        ax.bar(
            [i + offset * width for i in range(len(categories))],
            [report.micro(level, c).f1 for c in categories],
            width=width,
            label=f"concepts ({level.value})",
        )
    ax.set_xticks([i + width * (len(report.levels) - 1) / 2 for i in range(len(categories))])
    ax.set_xticklabels(categories)
    ax.set(ylim=(0, 1), ylabel="F1 (micro)", title=f"Concept F1 by category: {report.model}")
    ax.legend()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
