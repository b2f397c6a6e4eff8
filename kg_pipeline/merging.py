"""Chunk extractions -> one extraction per document.

Chunks overlap and each numbers its concepts from concept_001, so ids collide across chunks and a
concept seen in two chunks appears twice. Concepts are merged by normalised label and renumbered;
instances and relationships are carried over through the new ids, without duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kg_pipeline.quality.normalise import normalise_label
from kg_pipeline.reference import Reference, ReferenceRelationship
from kg_pipeline.schema import Concept, DirectionSemantics, Extraction, Instance


@dataclass(frozen=True, slots=True)
class MergedEdge:
    from_concept_id: str
    to_concept_id: str
    relationship_type: str
    confidence: float
    direction_semantics: DirectionSemantics


@dataclass
class MergedDocument:
    """The merge, lean: ``concepts[i]`` (its own ``concept_id`` is its chunk's) has the merged id
    ``concept_ids[i]``. Scoring reads this directly; no model object is rebuilt for it."""

    concepts: list[Concept] = field(default_factory=list)
    concept_ids: list[str] = field(default_factory=list)
    quotes: list[tuple[str, str]] = field(default_factory=list)  # (merged concept id, quote)
    relationships: list[MergedEdge] = field(default_factory=list)


def merge_document(extractions: Sequence[Extraction], with_quotes: bool = True) -> MergedDocument:
    merged = MergedDocument()
    index: dict[str, int] = {}  # normalised label -> position in merged.concepts
    seen_quotes: set[tuple[str, str]] = set()
    seen_edges: set[tuple[str, str, str]] = set()
    for extraction in extractions:
        local: dict[str, str] = {}  # this chunk's concept id -> merged id
        for concept in extraction.concepts:
            key = normalise_label(concept.label)
            position = index.get(key)
            if position is None:
                index[key] = len(merged.concepts)
                merged.concepts.append(concept)
                merged.concept_ids.append(f"concept_{len(merged.concepts):03d}")
            else:
                known = merged.concepts[position]
                terms = list(dict.fromkeys([*known.search_terms, *concept.search_terms]))[:5]
                if terms != known.search_terms:
                    # model_construct: both parts were validated already.
                    merged.concepts[position] = Concept.model_construct(
                        concept_id=known.concept_id,
                        label=known.label,
                        description=known.description,
                        search_terms=terms,
                    )
            local[concept.concept_id] = merged.concept_ids[index[key]]
        if with_quotes:
            for instance in extraction.instances:
                pair = (local.get(instance.concept_id, ""), instance.quote)
                if pair[0] and pair not in seen_quotes:
                    seen_quotes.add(pair)
                    merged.quotes.append(pair)
        for rel in extraction.relationships:
            if rel.from_concept_id not in local or rel.to_concept_id not in local:
                continue  # an endpoint the chunk never defined: nothing to attach it to
            edge_key = (local[rel.from_concept_id], local[rel.to_concept_id], rel.relationship_type)
            if edge_key not in seen_edges:
                seen_edges.add(edge_key)
                merged.relationships.append(
                    MergedEdge(*edge_key, rel.confidence, rel.direction_semantics)
                )
    return merged


def merge_extractions(extractions: Sequence[Extraction]) -> Reference:
    """The merge as a full Reference (e.g. a recorded model baseline)."""
    merged = merge_document(extractions)
    return Reference(
        concepts=[
            Concept.model_construct(
                concept_id=merged_id,
                label=c.label,
                description=c.description,
                search_terms=c.search_terms,
            )
            for c, merged_id in zip(merged.concepts, merged.concept_ids, strict=True)
        ],
        instances=[Instance(concept_id=cid, quote=quote) for cid, quote in merged.quotes],
        relationships=[
            ReferenceRelationship.model_construct(
                from_concept_id=e.from_concept_id,
                to_concept_id=e.to_concept_id,
                relationship_type=e.relationship_type,
                confidence=e.confidence,
                direction_semantics=e.direction_semantics,
                type_60=None,
                type_90=None,
            )
            for e in merged.relationships
        ],
    )
