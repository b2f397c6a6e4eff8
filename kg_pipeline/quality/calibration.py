"""Confidence calibration: does a stated confidence of 0.8 come true 80 % of the time?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BINS = 10


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


def reliability_bins(
    outcomes: Sequence[tuple[float, bool]], bins: int = BINS
) -> list[CalibrationBin]:
    """Equal-width bins over [0, 1]; a confidence of exactly 1.0 falls in the last bin."""
    grouped: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, matched in outcomes:
        grouped[min(int(confidence * bins), bins - 1)].append((confidence, matched))
    result = []
    for index, members in enumerate(grouped):
        n = len(members)
        result.append(
            CalibrationBin(
                low=index / bins,
                high=(index + 1) / bins,
                count=n,
                mean_confidence=sum(c for c, _ in members) / n if n else None,
                accuracy=sum(m for _, m in members) / n if n else None,
            )
        )
    return result


def expected_calibration_error(
    outcomes: Sequence[tuple[float, bool]], bins: int = BINS
) -> float | None:
    """Sum over bins of (bin share) x |accuracy - mean confidence|; None without outcomes."""
    if not outcomes:
        return None
    total = len(outcomes)
    return sum(
        b.count / total * abs((b.accuracy or 0.0) - (b.mean_confidence or 0.0))
        for b in reliability_bins(outcomes, bins)
        if b.count
    )
