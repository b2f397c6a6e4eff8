"""What a model made up: counted per chunk, against what it was given."""

from __future__ import annotations

from dataclasses import dataclass

from kg_pipeline.contract.schema import Extraction
from kg_pipeline.contract.vocabulary import Vocabulary
from kg_pipeline.quality.quotes import normalise_quote_text


@dataclass(frozen=True)
class HallucinationCounts:
    relationships: int = 0
    off_vocabulary_types: int = 0  # types outside the offered vocabulary
    dangling_relationships: int = 0  # an endpoint that is not an extracted concept
    instances: int = 0
    quotes_not_in_chunk: int = 0  # even after normalisation
    concepts: int = 0
    unsupported_concepts: int = 0  # no instance quotes them

    def __add__(self, other: HallucinationCounts) -> HallucinationCounts:
        return HallucinationCounts(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )


def count_hallucinations(
    extraction: Extraction, chunk_text: str, vocabulary: Vocabulary
) -> HallucinationCounts:
    concept_ids = {c.concept_id for c in extraction.concepts}
    quoted = {i.concept_id for i in extraction.instances}
    normalised_text = normalise_quote_text(chunk_text)
    return HallucinationCounts(
        relationships=len(extraction.relationships),
        off_vocabulary_types=sum(
            r.relationship_type not in vocabulary for r in extraction.relationships
        ),
        dangling_relationships=sum(
            r.from_concept_id not in concept_ids or r.to_concept_id not in concept_ids
            for r in extraction.relationships
        ),
        instances=len(extraction.instances),
        quotes_not_in_chunk=sum(
            i.quote not in chunk_text and normalise_quote_text(i.quote) not in normalised_text
            for i in extraction.instances
        ),
        concepts=len(extraction.concepts),
        unsupported_concepts=sum(c.concept_id not in quoted for c in extraction.concepts),
    )
