"""A figure with what it stands on: its value, the count it was taken over, and a bootstrap
interval. A rate over nothing is no rate: it reads "n/a (n = 0)" and is null in the JSON, never
0.0, which a reader takes for a measured zero.

Intervals resample documents, not items: the relationships or quotes of one document are not
independent of each other (one answer, one model's reading of one text), so treating them as
such would make intervals too narrow. 1,000 resamples, seed 0, 95 % percentile interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
_PERCENTILES = (2.5, 97.5)


class Estimate(BaseModel):
    """``value`` None: nothing to measure (``n`` = 0), or ``reason`` says why it is undefined."""

    value: float | None
    n: int  # what the value was taken over (relationships, quotes, outcomes)
    interval: tuple[float, float] | None = None  # bootstrap 95 %, over documents
    reason: str | None = None  # why there is no value other than n = 0

    def describe(self, digits: int = 3) -> str:
        """ "0.667 (n = 3, 95 % CI 0.333 to 1.000)"; "n/a (n = 0)"; "n/a (<reason>)"."""
        if self.value is None:
            return f"n/a ({self.reason or f'n = {self.n}'})"
        text = f"{self.value:.{digits}f} (n = {self.n}"
        if self.interval is not None:
            low, high = self.interval
            text += f", 95 % CI {low:.{digits}f} to {high:.{digits}f}"
        return text + ")"


def resample_weights(
    units: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """How many times each of ``units`` documents is drawn in each resample, shape (samples,
    units): a statistic summed over documents is then ``weights @ per_document``."""
    picks = np.random.default_rng(seed).integers(0, units, size=(samples, units))
    rows = np.arange(samples)[:, None] * units
    counts = np.bincount((picks + rows).ravel(), minlength=samples * units)
    return counts.reshape(samples, units).astype(float)


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, _PERCENTILES)
    return (float(low), float(high))


def ratio_estimate(
    parts: Sequence[tuple[int, int]],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """Pooled ratio sum(part) / sum(whole) over documents' (part, whole); resamples whose whole is
    0 are left out of the interval (the rate is undefined there, not 0)."""
    whole = sum(w for _, w in parts)
    if whole == 0:
        return Estimate(value=None, n=0)
    counts = np.array(parts, dtype=float)
    weights = resample_weights(len(parts), samples, seed)
    numerators, denominators = weights @ counts[:, 0], weights @ counts[:, 1]
    defined = denominators > 0
    return Estimate(
        value=sum(p for p, _ in parts) / whole,
        n=whole,
        interval=percentile_interval(numerators[defined] / denominators[defined]),
    )


def f1_interval(
    counts: Sequence[tuple[int, int, int]],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95 % interval of micro F1 over documents' (true positives, predicted, reference); a
    resample with nothing predicted or expected scores 0, as micro F1 itself does."""
    if not counts:
        return (0.0, 0.0)
    array = np.array(counts, dtype=float)
    tp, pred, ref = (resample_weights(len(counts), samples, seed) @ array).T
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(pred + ref > 0, 2 * tp / (pred + ref), 0.0)  # 2PR/(P+R) == 2TP/(pred+ref)
    return percentile_interval(f1)
