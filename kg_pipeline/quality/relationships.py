"""Relationship P/R/F1 and relationship-type accuracy, through the concept assignment.

A candidate relationship matches a reference relationship when both endpoints map (through the
one-to-one concept matching) onto the reference's endpoints in the same direction — either
direction when the reference marks it bidirectional — and the type is the same. Direction is read
from the candidate's ``direction_semantics``: ``inward`` means the relationship runs from
``to_concept_id`` to ``from_concept_id``, so it is scored with its ends swapped; a candidate that
calls itself bidirectional gets no second chance, because whether a relation is symmetric is the
reference's to say. A relationship found with its ends reversed is counted (``reversed``), so a
model that reads definitions backwards shows up as such. Type accuracy asks
a narrower question: of the candidate relationships whose endpoints matched a reference
relationship, what share also carries the reference's type.

The exact figures (``score_exact_relations``) read the ends through ``exact_ends`` instead, and
count distinct (head, tail) pairs and (head, tail, type) relations on each side, so that an entity
listed under several ids is one entity and a relation stated twice is one relation.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from kg_pipeline.contract.reference import ReferenceRelationship
from kg_pipeline.contract.schema import DirectionSemantics
from kg_pipeline.quality.concepts import PRF, ExactEnds

TypeField = Literal["relationship_type", "type_60", "type_90"]


class RelationshipLike(Protocol):
    """What scoring reads of a candidate relationship (a model's, or a merged document's)."""

    @property
    def from_concept_id(self) -> str: ...
    @property
    def to_concept_id(self) -> str: ...
    @property
    def relationship_type(self) -> str: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def direction_semantics(self) -> DirectionSemantics: ...


@dataclass(frozen=True)
class RelationshipScore:
    prf: PRF
    endpoint_matches: int  # candidate relationships whose endpoints matched a reference one
    type_matches: int  # of those, how many carry the reference's type
    # (stated confidence, matched?) of every candidate relationship stating one, for calibration.
    outcomes: tuple[tuple[float, bool], ...] = ()
    # candidate relationships with no match whose ends match a reference one backwards
    reversed: int = 0

    @property
    def type_accuracy(self) -> float | None:
        return self.type_matches / self.endpoint_matches if self.endpoint_matches else None

    def __add__(self, other: RelationshipScore) -> RelationshipScore:
        return RelationshipScore(
            self.prf + other.prf,
            self.endpoint_matches + other.endpoint_matches,
            self.type_matches + other.type_matches,
            self.outcomes + other.outcomes,
            self.reversed + other.reversed,
        )


EMPTY_RELATIONSHIP_SCORE = RelationshipScore(PRF(0, 0, 0), 0, 0)


def _reference_type(rel: ReferenceRelationship, field: TypeField) -> str:
    return getattr(rel, field) or rel.relationship_type


def score_relationships(
    predicted: Sequence[RelationshipLike],
    reference: Sequence[ReferenceRelationship],
    concept_map: dict[str, str],
    type_field: TypeField = "relationship_type",
) -> RelationshipScore:
    """``concept_map``: candidate concept id -> reference concept id, from the concept matching."""
    by_ends: dict[tuple[str, str], list[ReferenceRelationship]] = {}
    for rel in reference:
        by_ends.setdefault((rel.from_concept_id, rel.to_concept_id), []).append(rel)
        if rel.direction_semantics is DirectionSemantics.BIDIRECTIONAL:
            by_ends.setdefault((rel.to_concept_id, rel.from_concept_id), []).append(rel)
    used: set[int] = set()  # a reference relationship is matched at most once
    outcomes = [
        (c.confidence, _match_one(c, by_ends, concept_map, type_field, used)) for c in predicted
    ]
    reversed_count = sum(
        m == "none" and _ends(c, concept_map)[::-1] in by_ends
        for c, (_, m) in zip(predicted, outcomes, strict=True)
    )
    return RelationshipScore(
        PRF(sum(m == "full" for _, m in outcomes), len(predicted), len(reference)),
        endpoint_matches=sum(m in {"full", "type", "endpoints"} for _, m in outcomes),
        type_matches=sum(m in {"full", "type"} for _, m in outcomes),
        outcomes=tuple(
            (confidence, m == "full") for confidence, m in outcomes if confidence is not None
        ),
        reversed=reversed_count,
    )


def _ends(
    candidate: RelationshipLike, concept_map: dict[str, str]
) -> tuple[str | None, str | None]:
    """The reference ids of the candidate's (head, tail), read through its direction."""
    ends = (concept_map.get(candidate.from_concept_id), concept_map.get(candidate.to_concept_id))
    if getattr(candidate, "direction_semantics", None) is DirectionSemantics.INWARD:
        return ends[1], ends[0]
    return ends


def score_pairs(
    predicted: Sequence[RelationshipLike],
    reference: Sequence[ReferenceRelationship],
    concept_map: dict[str, str],
) -> PRF:
    """Entity-pair P/R/F1: does the candidate relate the right (head, tail) pairs, whatever the
    type? Each distinct ordered pair counts once on either side; a bidirectional reference
    relationship accepts its pair either way round."""
    reference_pairs = {(r.from_concept_id, r.to_concept_id) for r in reference}
    symmetric = {
        (r.to_concept_id, r.from_concept_id): (r.from_concept_id, r.to_concept_id)
        for r in reference
        if r.direction_semantics is DirectionSemantics.BIDIRECTIONAL
    }
    predicted_pairs: set[tuple[str, str]] = set()
    for candidate in predicted:
        head, tail = _ends(candidate, concept_map)
        if head is None or tail is None:
            # Unmatched ends: a distinct wrong pair, named by the candidate's own ids.
            predicted_pairs.add(("?" + candidate.from_concept_id, "?" + candidate.to_concept_id))
            continue
        pair = (head, tail)
        predicted_pairs.add(symmetric.get(pair, pair) if pair not in reference_pairs else pair)
    hits = len(predicted_pairs & reference_pairs)
    return PRF(hits, len(predicted_pairs), len(reference_pairs))


Edge = tuple[Hashable, ...]  # (head, tail) or (head, tail, type)


@dataclass(frozen=True)
class ExactRelationScore:
    pairs: PRF  # distinct (head, tail) entity pairs, whatever the type
    typed: PRF  # distinct (head, tail, type) relations


def _distinct_hits(predicted: Iterable[Edge], reference: set[Edge], symmetric: set[Edge]) -> PRF:
    """Distinct edges on each side; a predicted edge that is not a reference edge but whose
    reverse is one declared bidirectional is read as that reference edge."""
    chosen: set[Edge] = set()
    for edge in predicted:
        backwards = (edge[1], edge[0], *edge[2:])
        chosen.add(backwards if edge not in reference and backwards in symmetric else edge)
    return PRF(len(chosen & reference), len(chosen), len(reference))


def score_exact_relations(
    predicted: Sequence[RelationshipLike],
    reference: Sequence[ReferenceRelationship],
    ends: ExactEnds,
    type_field: TypeField = "relationship_type",
) -> ExactRelationScore:
    """Entity-pair and typed-relation P/R/F1 with the ends matched exactly (README, "Exact
    matching rules"). Types are compared as written; direction as in ``score_relationships``:
    ``inward`` swaps the candidate's ends, a bidirectional reference accepts either order."""
    reference_pairs: set[Edge] = set()
    reference_typed: set[Edge] = set()
    symmetric_pairs: set[Edge] = set()
    symmetric_typed: set[Edge] = set()
    for rel in reference:
        pair = (
            ends.end(rel.from_concept_id, reference=True),
            ends.end(rel.to_concept_id, reference=True),
        )
        typed = (*pair, _reference_type(rel, type_field))
        reference_pairs.add(pair)
        reference_typed.add(typed)
        if rel.direction_semantics is DirectionSemantics.BIDIRECTIONAL:
            symmetric_pairs.add(pair)
            symmetric_typed.add(typed)
    predicted_pairs: list[Edge] = []
    predicted_typed: list[Edge] = []
    for candidate in predicted:
        head = ends.end(candidate.from_concept_id, reference=False)
        tail = ends.end(candidate.to_concept_id, reference=False)
        if getattr(candidate, "direction_semantics", None) is DirectionSemantics.INWARD:
            head, tail = tail, head
        predicted_pairs.append((head, tail))
        predicted_typed.append((head, tail, candidate.relationship_type))
    return ExactRelationScore(
        pairs=_distinct_hits(predicted_pairs, reference_pairs, symmetric_pairs),
        typed=_distinct_hits(predicted_typed, reference_typed, symmetric_typed),
    )


def _match_one(
    candidate: RelationshipLike,
    by_ends: dict[tuple[str, str], list[ReferenceRelationship]],
    concept_map: dict[str, str],
    type_field: TypeField,
    used: set[int],
) -> Literal["full", "type", "endpoints", "none"]:
    """full: matched a reference relationship not matched before; type: endpoints and type right
    but that reference relationship was already taken; endpoints: the type is wrong; none: the
    reference has no such edge."""
    ends = _ends(candidate, concept_map)
    if ends[0] is None or ends[1] is None:
        return "none"
    edges = by_ends.get((ends[0], ends[1]), [])
    if not edges:
        return "none"
    same_type = [r for r in edges if _reference_type(r, type_field) == candidate.relationship_type]
    if not same_type:
        return "endpoints"
    fresh = [r for r in same_type if id(r) not in used]
    if not fresh:
        return "type"
    used.add(id(fresh[0]))
    return "full"
