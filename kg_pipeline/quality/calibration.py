"""Confidence calibration: does a stated confidence of 0.8 come true 80 % of the time?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kg_pipeline.quality.estimates import (
    BOOTSTRAP_SAMPLES,
    BOOTSTRAP_SEED,
    Estimate,
    percentile_interval,
    resample_weights,
)

BINS = 10
NOT_ASKED = "prompt asks for no confidence"


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


def _bin(confidence: float, bins: int) -> int:
    return min(int(confidence * bins), bins - 1)


def reliability_bins(
    outcomes: Sequence[tuple[float, bool]], bins: int = BINS
) -> list[CalibrationBin]:
    """Equal-width bins over [0, 1]; a confidence of exactly 1.0 falls in the last bin."""
    grouped: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, matched in outcomes:
        grouped[_bin(confidence, bins)].append((confidence, matched))
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


def calibration_estimate(
    outcomes_by_document: Sequence[Sequence[tuple[float, bool]]],
    asks_confidence: bool,
    bins: int = BINS,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """ECE with the number of stated confidences and a bootstrap interval over documents.

    Undefined, with the reason, when the prompt asked for no confidence: a model that was not
    asked states none (or one it was never taught), and an error of its silence means nothing.
    ECE is sum over bins of |sum of (matched - confidence)| / N, so each resample is a weighted
    sum of the documents' per-bin gaps and counts."""
    n = sum(len(outcomes) for outcomes in outcomes_by_document)
    if not asks_confidence:
        return Estimate(value=None, n=n, reason=NOT_ASKED)
    if n == 0:
        return Estimate(value=None, n=0)
    gaps = np.zeros((len(outcomes_by_document), bins))
    counts = np.zeros(len(outcomes_by_document))
    for document, outcomes in enumerate(outcomes_by_document):
        counts[document] = len(outcomes)
        for confidence, matched in outcomes:
            gaps[document, _bin(confidence, bins)] += matched - confidence
    weights = resample_weights(len(outcomes_by_document), samples, seed)
    totals = weights @ counts
    defined = totals > 0
    errors = np.abs(weights @ gaps).sum(axis=1)[defined] / totals[defined]
    value = expected_calibration_error([o for outcomes in outcomes_by_document for o in outcomes])
    return Estimate(value=value, n=n, interval=percentile_interval(errors))
