"""Chunk extractions -> one extraction per document.

Chunks overlap and each numbers its concepts from concept_001, so ids collide across chunks and a
concept seen in two chunks appears twice. Concepts are merged by normalised label, renumbered, and
instances and relationships are carried over through the new ids, without duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence

from kg_pipeline.quality.normalise import normalise_label
from kg_pipeline.reference import Reference, ReferenceRelationship
from kg_pipeline.schema import Concept, Extraction, Instance


def merge_extractions(extractions: Sequence[Extraction], with_instances: bool = True) -> Reference:
    """``with_instances=False`` skips the instances, which scoring a document does not need."""
    concepts: dict[str, Concept] = {}  # normalised label -> merged concept
    instances: dict[tuple[str, str], Instance] = {}
    relationships: dict[tuple[str, str, str], ReferenceRelationship] = {}
    for extraction in extractions:
        local: dict[str, str] = {}  # this chunk's concept id -> merged id
        for concept in extraction.concepts:
            key = normalise_label(concept.label)
            # model_construct: the fields come from validated models, so skip re-validation
            # (scoring merges hundreds of thousands of concepts).
            if key not in concepts:
                merged_id = f"concept_{len(concepts) + 1:03d}"
                concepts[key] = (
                    concept
                    if concept.concept_id == merged_id
                    else Concept.model_construct(
                        concept_id=merged_id,
                        label=concept.label,
                        description=concept.description,
                        search_terms=concept.search_terms,
                    )
                )
            else:
                known = concepts[key]
                terms = list(dict.fromkeys([*known.search_terms, *concept.search_terms]))[:5]
                if terms != known.search_terms:
                    concepts[key] = Concept.model_construct(
                        concept_id=known.concept_id,
                        label=known.label,
                        description=known.description,
                        search_terms=terms,
                    )
            local[concept.concept_id] = concepts[key].concept_id
        for instance in extraction.instances if with_instances else ():
            if instance.concept_id in local:
                merged = local[instance.concept_id]
                instances.setdefault(
                    (merged, instance.quote),
                    Instance.model_construct(concept_id=merged, quote=instance.quote),
                )
        for rel in extraction.relationships:
            if rel.from_concept_id not in local or rel.to_concept_id not in local:
                continue  # an endpoint the chunk never defined: nothing to attach it to
            ends = (local[rel.from_concept_id], local[rel.to_concept_id])
            key3 = (*ends, rel.relationship_type)
            if key3 not in relationships:
                relationships[key3] = ReferenceRelationship.model_construct(
                    from_concept_id=ends[0],
                    to_concept_id=ends[1],
                    relationship_type=rel.relationship_type,
                    confidence=rel.confidence,
                    direction_semantics=rel.direction_semantics,
                    type_60=None,
                    type_90=None,
                )
    return Reference(
        concepts=list(concepts.values()),
        instances=list(instances.values()),
        relationships=list(relationships.values()),
    )
