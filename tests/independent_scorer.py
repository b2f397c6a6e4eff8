"""Exact entity, entity-pair and typed-relation scoring, written from the README's "Exact matching
rules" alone, to check the pipeline's scorer against.

Plain Python on plain data (answers as dicts, as their JSON reads); it imports nothing from
``kg_pipeline``, so that a rule the README states loosely, or the pipeline implements otherwise,
shows up as a disagreement instead of being shared by both sides. The numbered comments point at
the README's rules.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Answer = Mapping[str, Any]  # {"concepts": [...], "relationships": [...]}
Counts = tuple[int, int, int]  # (true positives, predicted, reference)


# 1. Normalisation -------------------------------------------------------------------------------


def _singular(token: str) -> str:
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies"):
        return token[:-3] + "y"
    for ending in ("sses", "shes", "ches", "xes"):
        if token.endswith(ending):
            return token[:-2]
    if token.endswith("s") and token[-2] not in "sui":
        return token[:-1]
    return token


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    spaced = "".join(" " if unicodedata.category(char).startswith("P") else char for char in folded)
    return " ".join(_singular(token) for token in spaced.split())


# 2. Forms ---------------------------------------------------------------------------------------


def forms(concept: Mapping[str, Any]) -> set[str]:
    found = {normalise(concept["label"])} | {normalise(t) for t in concept["search_terms"]}
    return found - {""}


# 3. Entity P/R/F1: a maximum bipartite matching (augmenting paths) ------------------------------


def entity_counts(answer: Answer, reference: Answer) -> Counts:
    candidates, references = answer["concepts"], reference["concepts"]
    reference_forms = [forms(r) for r in references]
    edges = [
        [j for j, ref_forms in enumerate(reference_forms) if forms(c) & ref_forms]
        for c in candidates
    ]
    owner: dict[int, int] = {}  # reference concept -> the candidate it is matched to

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    matched = sum(augment(i, set()) for i in range(len(candidates)))
    return matched, len(candidates), len(references)


# 4. Entities --------------------------------------------------------------------------------------

# An entity is ("label", normalised label) or ("id", concept id).
Entity = tuple[str, str]


def entities(
    concepts: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Entity], dict[Entity, set[str]]]:
    """id -> entity, entity -> forms."""
    of_id: dict[str, Entity] = {}
    entity_forms: dict[Entity, set[str]] = {}
    for concept in concepts:
        if concept["concept_id"] in of_id:
            continue  # a later concept with an id already seen is ignored
        label = normalise(concept["label"])
        entity = ("label", label) if label else ("id", concept["concept_id"])
        of_id[concept["concept_id"]] = entity
        entity_forms.setdefault(entity, set()).update(forms(concept))
    return of_id, entity_forms


# 5. Correspondence --------------------------------------------------------------------------------


def correspondence(answer: Answer, reference: Answer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Candidate id -> what its end is, reference id -> its entity. A candidate entity standing
    for no reference entity is wrapped as ("own", entity), which no reference entity equals."""
    cand_of_id, cand_forms = entities(answer["concepts"])
    ref_of_id, ref_forms = entities(reference["concepts"])
    stands_for: dict[Entity, Any] = {}
    for entity, entity_forms in cand_forms.items():
        if entity[0] == "label" and entity in ref_forms:
            stands_for[entity] = entity
            continue
        sharing = [ref for ref, f in ref_forms.items() if f & entity_forms]
        stands_for[entity] = sharing[0] if len(sharing) == 1 else ("own", entity)
    return {i: stands_for[e] for i, e in cand_of_id.items()}, dict(ref_of_id)


# 6-8. Direction, pairs, typed relations -----------------------------------------------------------


def _chosen(
    candidate_edges: Iterable[tuple[Any, ...]],
    reference_edges: set[tuple[Any, ...]],
    bidirectional: set[tuple[Any, ...]],
) -> set[tuple[Any, ...]]:
    chosen = set()
    for edge in candidate_edges:
        reverse = (edge[1], edge[0], *edge[2:])
        if edge in reference_edges:
            chosen.add(edge)
        elif reverse in bidirectional:
            chosen.add(reverse)
        else:
            chosen.add(edge)
    return chosen


def relation_counts(
    answer: Answer, reference: Answer, type_key: str = "relationship_type"
) -> tuple[Counts, Counts]:
    """(pair counts, typed counts) of one document."""
    cand_end, ref_end = correspondence(answer, reference)

    def candidate_end(concept_id: str) -> Any:
        # An id no concept carries: an entity of its own, standing for nothing.
        return cand_end.get(concept_id, ("own", ("id", concept_id)))

    def reference_end(concept_id: str) -> Any:
        return ref_end.get(concept_id, ("id", concept_id))

    ref_pairs: set[tuple[Any, ...]] = set()
    ref_typed: set[tuple[Any, ...]] = set()
    bidi_pairs: set[tuple[Any, ...]] = set()
    bidi_typed: set[tuple[Any, ...]] = set()
    for rel in reference["relationships"]:
        pair = (reference_end(rel["from_concept_id"]), reference_end(rel["to_concept_id"]))
        rel_type = rel.get(type_key) or rel["relationship_type"]
        ref_pairs.add(pair)
        ref_typed.add((*pair, rel_type))
        if rel["direction_semantics"] == "bidirectional":
            bidi_pairs.add(pair)
            bidi_typed.add((*pair, rel_type))
    cand_pairs, cand_typed = [], []
    for rel in answer["relationships"]:
        head, tail = candidate_end(rel["from_concept_id"]), candidate_end(rel["to_concept_id"])
        if rel["direction_semantics"] == "inward":
            head, tail = tail, head
        cand_pairs.append((head, tail))
        cand_typed.append((head, tail, rel["relationship_type"]))
    pairs = _chosen(cand_pairs, ref_pairs, bidi_pairs)
    typed = _chosen(cand_typed, ref_typed, bidi_typed)
    return (
        (len(pairs & ref_pairs), len(pairs), len(ref_pairs)),
        (len(typed & ref_typed), len(typed), len(ref_typed)),
    )


# 9. Totals ------------------------------------------------------------------------------------------


def f1(counts: Iterable[Counts]) -> float:
    """Micro F1: counts summed over documents first."""
    tp = predicted = reference = 0
    for t, p, r in counts:
        tp, predicted, reference = tp + t, predicted + p, reference + r
    precision = tp / predicted if predicted else 0.0
    recall = tp / reference if reference else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def score(
    documents: Sequence[tuple[Answer, Answer]], type_key: str = "relationship_type"
) -> dict[str, float]:
    """Exact entity, pair and typed-relation F1 over (answer, reference) documents."""
    relations = [relation_counts(a, r, type_key) for a, r in documents]
    return {
        "entity_f1": f1(entity_counts(a, r) for a, r in documents),
        "pair_f1": f1(p for p, _ in relations),
        "typed_f1": f1(t for _, t in relations),
    }
