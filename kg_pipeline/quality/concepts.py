"""Concept matching between a candidate and a reference extraction, in levels.

- exact: normalised labels equal, where a concept matches on its label or any search term;
- fuzzy: character n-gram TF-IDF cosine of the best pair of forms >= ``FUZZY_THRESHOLD``;
- embedding: cosine of embeddings >= a threshold, when an embedder is given.

Matching is one-to-one (a maximum bipartite assignment, Hungarian): one candidate concept accounts
for at most one reference concept, so repeating a concept never buys recall. Each level admits
every pair the level below admitted, so a higher level never lowers a score; among assignments of
equal size the one with the most similar pairs wins.

Relationships are scored twice: through that assignment (its most lenient level), and through
``exact_ends``, which keys concepts by normalised label and maps them by exact forms only, so
that an independent re-implementation of the README's rules gives the same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import vstack
from sklearn.feature_extraction.text import TfidfVectorizer

from kg_pipeline.contract.normalise import normalise_label
from kg_pipeline.contract.schema import Concept

# Chosen on the embedded model's real output against the curated references (15 documents, best
# pair per candidate, cosine with the vectorizer fitted on that report): admitted "bacterial
# chaperonin GroEL-GroES" ~ "GroEL-GroES chaperonin" (0.92), "message queue client's default
# consumer acknowledgement timeout" ~ "acknowledgement timeout" (0.81), "crust on the baguettes came
# out pale" ~ "pale baguette crust" (0.80), "single-molecule FRET measurements" ~ "single-molecule
# FRET" (0.79); kept apart the false "Trailmate 5.3 for iOS and Android" ~ "iOS 17" (0.73),
# "miners" ~ "Miners' Track" (0.70), "R4 405" ~ "train 405" (0.62). The price: clause-long labels
# such as "oven two is broken again" ~ "oven two" (0.72) stay unmatched.
FUZZY_THRESHOLD = 0.75
EMBEDDING_THRESHOLD = 0.85
# Keeps the assignment's size first: n pairs * _TIE_BREAK < 1 for any realistic n.
_TIE_BREAK = 1e-4

Embedder = Callable[[list[str]], np.ndarray]


class MatchLevel(StrEnum):
    EXACT = "exact"
    FUZZY = "fuzzy"
    EMBEDDING = "embedding"


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


def concept_forms(concept: Concept) -> list[str]:
    """A concept matches on its label or on any of its search terms (normalised, unique)."""
    return list(_forms(concept.label, tuple(concept.search_terms)))


@lru_cache(maxsize=65536)
def _forms(label: str, search_terms: tuple[str, ...]) -> tuple[str, ...]:
    forms = [normalise_label(label)] + [normalise_label(t) for t in search_terms]
    return tuple(f for f in dict.fromkeys(forms) if f)


def merge_concepts(concepts: Sequence[Concept]) -> list[Concept]:
    """One concept per normalised label: a document's chunks overlap and repeat concepts."""
    seen: dict[str, Concept] = {}
    for concept in concepts:
        seen.setdefault(normalise_label(concept.label), concept)
    return list(seen.values())


def _exact(pred: list[list[str]], ref: list[list[str]]) -> np.ndarray:
    """1 where the two concepts share a normalised form: incidence matrices, multiplied. A
    concept with no form (a label of punctuation only) shares nothing, not even with another."""
    index: dict[str, int] = {}
    for forms in pred + ref:
        for form in forms:
            if form:
                index.setdefault(form, len(index))

    def incidence(groups: list[list[str]]) -> np.ndarray:
        matrix = np.zeros((len(groups), len(index)))
        for row, forms in enumerate(groups):
            matrix[row, [index[f] for f in forms if f]] = 1.0
        return matrix

    shared: np.ndarray = (incidence(pred) @ incidence(ref).T > 0).astype(float)
    return shared


class FuzzySimilarity:
    """Character 2-4-gram (within word boundaries) TF-IDF cosine.

    IDF learnt from a handful of labels is noise, and would make a pair's score depend on the other
    concepts of its document; so the vectorizer is fitted once on every form of a whole evaluation
    (all candidates and references), and the same pair scores the same throughout a report. Every
    form's vector is computed once, at fitting.
    """

    def __init__(self, concepts: Sequence[Concept]) -> None:
        forms = sorted({f for c in concepts for f in concept_forms(c)})
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4))
        try:
            self._vectors = self._vectorizer.fit_transform(forms).tocsr()  # rows L2-normalised
        except ValueError:  # no concept anywhere (or no n-gram at all): nothing is similar
            self._fitted = False
        else:
            self._fitted = True
        self._row = {f: i for i, f in enumerate(forms)}

    def _matrix(self, forms: list[str]) -> Any:
        unseen = [f for f in forms if f not in self._row]
        if unseen:  # a form outside the fitted evaluation: vectorise it on the spot
            start = self._vectors.shape[0]
            self._vectors = vstack([self._vectors, self._vectorizer.transform(unseen)]).tocsr()
            self._row.update({f: start + i for i, f in enumerate(unseen)})
        return self._vectors[[self._row[f] for f in forms]]

    def __call__(self, pred: list[list[str]], ref: list[list[str]]) -> np.ndarray:
        """Best cosine over the pairs of forms of each (predicted, reference) concept pair."""
        if not self._fitted:
            return np.zeros((len(pred), len(ref)))
        pred_flat = [f for fs in pred for f in fs]
        ref_flat = [f for fs in ref for f in fs]
        cosine = (self._matrix(pred_flat) @ self._matrix(ref_flat).T).toarray()
        pred_starts = np.cumsum([0] + [len(fs) for fs in pred[:-1]])
        ref_starts = np.cumsum([0] + [len(fs) for fs in ref[:-1]])
        best: np.ndarray = np.maximum.reduceat(
            np.maximum.reduceat(cosine, pred_starts, axis=0), ref_starts, axis=1
        )
        return best


def similarity_levels(
    predicted: Sequence[Concept],
    reference: Sequence[Concept],
    levels: Sequence[MatchLevel],
    embedder: Embedder | None = None,
    fuzzy: FuzzySimilarity | None = None,
) -> dict[MatchLevel, np.ndarray]:
    """Similarity in [0, 1] of every (predicted, reference) pair at each level, 0 where the level
    does not admit the pair; each level builds on the one below, computed once. ``fuzzy``
    defaults to one fitted on these two lists alone."""
    pred = [concept_forms(c) or [""] for c in predicted]
    ref = [concept_forms(c) or [""] for c in reference]
    result = {MatchLevel.EXACT: _exact(pred, ref)}
    if MatchLevel.FUZZY in levels or MatchLevel.EMBEDDING in levels:
        cosine = (fuzzy or FuzzySimilarity([*predicted, *reference]))(pred, ref)
        result[MatchLevel.FUZZY] = np.maximum(
            result[MatchLevel.EXACT], np.where(cosine >= FUZZY_THRESHOLD, cosine, 0.0)
        )
    if MatchLevel.EMBEDDING in levels:
        if embedder is None:
            raise ValueError("embedding-level matching needs an embedder (an embedding endpoint)")
        vectors = embedder([c.label for c in predicted] + [c.label for c in reference])
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        cosine = vectors[: len(predicted)] @ vectors[len(predicted) :].T
        result[MatchLevel.EMBEDDING] = np.maximum(
            result[MatchLevel.FUZZY], np.where(cosine >= EMBEDDING_THRESHOLD, cosine, 0.0)
        )
    return {level: result[level] for level in levels}


def similarity_matrix(
    predicted: Sequence[Concept],
    reference: Sequence[Concept],
    level: MatchLevel,
    embedder: Embedder | None = None,
    fuzzy: FuzzySimilarity | None = None,
) -> np.ndarray:
    return similarity_levels(predicted, reference, [level], embedder, fuzzy)[level]


def assign(
    predicted: Sequence[Concept], reference: Sequence[Concept], similarity: np.ndarray
) -> list[tuple[int, int]]:
    """Index pairs (predicted, reference) of a maximum one-to-one matching over ``similarity``."""
    if not predicted or not reference:
        return []
    weight = np.where(similarity > 0, 1.0 + _TIE_BREAK * similarity, 0.0)
    # Solve in label order, so that among equally good assignments the one chosen does not
    # depend on the order in which a model happened to list its concepts.
    pred_order = sorted(range(len(predicted)), key=lambda i: _sort_key(predicted[i]))
    ref_order = sorted(range(len(reference)), key=lambda j: _sort_key(reference[j]))
    rows, cols = linear_sum_assignment(weight[np.ix_(pred_order, ref_order)], maximize=True)
    pairs = [(pred_order[r], ref_order[c]) for r, c in zip(rows, cols, strict=True)]
    return sorted((i, j) for i, j in pairs if weight[i, j] > 0)


def match_concepts(
    predicted: Sequence[Concept],
    reference: Sequence[Concept],
    level: MatchLevel = MatchLevel.EXACT,
    embedder: Embedder | None = None,
    fuzzy: FuzzySimilarity | None = None,
) -> list[tuple[int, int]]:
    """Index pairs (predicted, reference) of a maximum one-to-one matching at ``level``."""
    if not predicted or not reference:
        return []
    return assign(
        predicted, reference, similarity_matrix(predicted, reference, level, embedder, fuzzy)
    )


def _sort_key(concept: Concept) -> tuple[str, ...]:
    return (*concept_forms(concept), concept.label, concept.description)


def score_concepts(
    predicted: Sequence[Concept],
    reference: Sequence[Concept],
    level: MatchLevel = MatchLevel.EXACT,
    embedder: Embedder | None = None,
    fuzzy: FuzzySimilarity | None = None,
) -> PRF:
    matched = match_concepts(predicted, reference, level, embedder, fuzzy)
    return PRF(len(matched), len(predicted), len(reference))


# An entity under exact pair matching: ("label", normalised label), or ("id", concept id) for a
# concept whose label normalises to nothing (and for an id no concept carries). A candidate entity
# that corresponds to no reference entity is marked ("candidate label" / "candidate id", name),
# so that it can never equal a reference entity.
EntityKey = tuple[str, str]


def label_entities(
    concepts: Sequence[Concept], ids: Sequence[str]
) -> tuple[dict[str, EntityKey], dict[EntityKey, frozenset[str]]]:
    """Concept id -> entity, and each entity's forms. Concepts are keyed by normalised label, so
    an answer listing one entity under three ids (or chunks repeating it) names one entity, with
    the union of their forms; an id keeps the meaning of the first concept listed with it."""
    entity_of: dict[str, EntityKey] = {}
    forms: dict[EntityKey, set[str]] = {}
    for concept, concept_id in zip(concepts, ids, strict=True):
        if concept_id in entity_of:
            continue
        label = normalise_label(concept.label)
        key = ("label", label) if label else ("id", concept_id)
        entity_of[concept_id] = key
        forms.setdefault(key, set()).update(concept_forms(concept))
    return entity_of, {key: frozenset(f) for key, f in forms.items()}


@dataclass(frozen=True)
class ExactEnds:
    """Who the ends of relationships are under exact matching, on both sides; an id that no
    concept carries is an entity of its own (see ``end``)."""

    candidate: dict[str, EntityKey]  # candidate concept id -> its reference entity, or its own
    reference: dict[str, EntityKey]  # reference concept id -> its entity

    def end(self, concept_id: str, *, reference: bool) -> EntityKey:
        if reference:
            return self.reference.get(concept_id, ("id", concept_id))
        return self.candidate.get(concept_id, ("candidate id", concept_id))


def exact_ends(
    candidate: Sequence[Concept], candidate_ids: Sequence[str], reference: Sequence[Concept]
) -> ExactEnds:
    """Each candidate entity stands for the reference entity with its normalised label; failing
    that, for the one reference entity sharing a form with it; when none or several do, for
    itself. Unlike the one-to-one assignment of concept F1, several candidate entities may stand
    for one reference entity, and no fuzzy similarity is involved: a pair or relation between
    entities named exactly is never lost to the assignment choosing another concept."""
    candidate_entity, candidate_forms = label_entities(candidate, candidate_ids)
    reference_entity, reference_forms = label_entities(reference, [c.concept_id for c in reference])
    stands_for: dict[EntityKey, EntityKey] = {}
    for key, forms in candidate_forms.items():
        if key[0] == "label" and key in reference_forms:
            stands_for[key] = key
            continue
        sharing = [ref_key for ref_key, ref_forms in reference_forms.items() if forms & ref_forms]
        stands_for[key] = sharing[0] if len(sharing) == 1 else ("candidate " + key[0], key[1])
    return ExactEnds(
        candidate={cid: stands_for[key] for cid, key in candidate_entity.items()},
        reference=reference_entity,
    )
