"""Concept precision, recall and F1 by normalised exact match.

Matching is one-to-one (a maximum bipartite assignment): one predicted concept can only ever
account for one reference concept, so repeating a concept never buys recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from kg_pipeline.quality.normalise import normalise_label
from kg_pipeline.schema import Concept


@dataclass(frozen=True)
class PRF:
    true_positives: int
    predicted: int
    reference: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.reference if self.reference else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: PRF) -> PRF:
        return PRF(
            self.true_positives + other.true_positives,
            self.predicted + other.predicted,
            self.reference + other.reference,
        )


def concept_forms(concept: Concept) -> frozenset[str]:
    """A concept matches on its label or on any of its search terms."""
    forms = {normalise_label(concept.label)} | {normalise_label(t) for t in concept.search_terms}
    return frozenset(f for f in forms if f)


def merge_concepts(concepts: Sequence[Concept]) -> list[Concept]:
    """One concept per normalised label: a document's chunks overlap and repeat concepts."""
    seen: dict[str, Concept] = {}
    for concept in concepts:
        seen.setdefault(normalise_label(concept.label), concept)
    return list(seen.values())


def match_concepts(
    predicted: Sequence[Concept], reference: Sequence[Concept]
) -> list[tuple[int, int]]:
    """Index pairs (predicted, reference) of a maximum one-to-one exact matching."""
    if not predicted or not reference:
        return []
    pred_forms = [concept_forms(c) for c in predicted]
    ref_forms = [concept_forms(c) for c in reference]
    similarity = np.array([[1.0 if p & r else 0.0 for r in ref_forms] for p in pred_forms])
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if similarity[i, j] > 0]


def score_concepts(predicted: Sequence[Concept], reference: Sequence[Concept]) -> PRF:
    return PRF(len(match_concepts(predicted, reference)), len(predicted), len(reference))
