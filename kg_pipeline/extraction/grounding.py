"""Quote grounding: an ``Extraction`` whose quotes are the exact source text they copy, as found
by quote_matching.py, with the instances whose quote is nowhere in the chunk dropped (and, with
``concepts``, concept labels in the source's spelling and concepts with nothing behind them gone).

A grounded span can be longer than the model's quote (the model dropped words; whitespace was
collapsed); a span over the length ``Instance`` validates (``MAX_GROUNDED_QUOTE_LENGTH``) is
TRUNCATED at the last word that fits, and its end offset moves with it. Truncation, not
``Instance.model_construct``, because records are stored as JSON and read back through
``model_validate_json``: an over-long quote would make its own record unreadable.

A chunk is folded once (``FoldedText``) for all its quotes and labels: folding is the one pass
over the whole text that matching needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from kg_pipeline.contract.schema import Concept, Extraction, Instance
from kg_pipeline.extraction.quote_matching import (
    DEFAULT_THRESHOLD,
    FoldedText,
    ground_quote_in,
    is_word_char,
)

MAX_DROPPED_QUOTES = 20

# The longest quote ``Instance`` validates: the limit a stored record is read back under.
MAX_GROUNDED_QUOTE_LENGTH: int = Instance.model_json_schema()["properties"]["quote"]["maxLength"]
MAX_GROUNDED_LABEL_LENGTH: int = Concept.model_json_schema()["properties"]["label"]["maxLength"]


class GroundingSummary(BaseModel):
    """What grounding did to one extraction, small enough to store beside its record as JSON.

    ``offsets[i]`` is the ``(start, end)`` of the grounded extraction's ``instances[i]``. Every
    instance of the model's answer is counted once: exact + repaired + dropped + duplicates.
    """

    offsets: list[tuple[int, int]] = Field(default_factory=list)
    exact: int = 0
    repaired: int = 0  # quote text changed: folded or fuzzy match, or truncated
    dropped: int = 0  # no span reached the threshold
    duplicates: int = 0  # same concept and span as an instance kept before it
    dropped_quotes: list[str] = Field(default_factory=list)  # the first MAX_DROPPED_QUOTES
    # Concepts (with ``concepts=True``): labels replaced by the source text they match, and
    # concepts with no support in the text at all (no grounded quote, label not found) dropped.
    labels_repaired: int = 0
    concepts_dropped: int = 0
    dropped_labels: list[str] = Field(default_factory=list)  # the first MAX_DROPPED_QUOTES


@dataclass(frozen=True, slots=True)
class GroundedExtraction:
    extraction: Extraction
    summary: GroundingSummary


def _truncated_end(text: str, start: int, end: int, limit: int) -> int:
    """The end of the last whole word within ``limit`` characters of ``start``."""
    if end - start <= limit:
        return end
    cut = start + limit
    for j in range(cut, start, -1):
        if is_word_char(text[j - 1]) and not is_word_char(text[j]):
            return j
    return start + len(text[start:cut].rstrip())  # one word longer than the limit


def ground_extraction(
    extraction: Extraction,
    text: str,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    concepts: bool = True,
) -> GroundedExtraction:
    """A copy of ``extraction`` whose quotes are exact source text; unfound instances dropped.

    With ``concepts``, each concept's label is grounded the same way: a label found in the text
    becomes the text's spelling of it ("Impropriety" for a model's "impropriety", the source's
    casing), so scoring and merging see the name as written; a concept whose label is not in the
    text and none of whose quotes grounded has nothing in the text behind it (a small model's
    misread year, "2083" for "1983") and is dropped with its relationships.
    """
    source = FoldedText.of(text)
    summary = GroundingSummary()
    kept: list[Instance] = []
    seen: set[tuple[str, int, int]] = set()
    for instance in extraction.instances:
        span = ground_quote_in(instance.quote, source, threshold)
        if span is None:
            summary.dropped += 1
            if len(summary.dropped_quotes) < MAX_DROPPED_QUOTES:
                summary.dropped_quotes.append(instance.quote)
            continue
        end = _truncated_end(text, span.start, span.end, MAX_GROUNDED_QUOTE_LENGTH)
        key = (instance.concept_id, span.start, end)
        if key in seen:
            summary.duplicates += 1
            continue
        seen.add(key)
        quote = text[span.start : end]
        if quote == instance.quote:
            summary.exact += 1
        else:
            summary.repaired += 1
        kept.append(Instance(concept_id=instance.concept_id, quote=quote))
        summary.offsets.append((span.start, end))
    if not concepts:
        return GroundedExtraction(extraction.model_copy(update={"instances": kept}), summary)
    quoted = {i.concept_id for i in kept}
    kept_concepts = []
    for concept in extraction.concepts:
        span = ground_quote_in(concept.label, source, threshold)
        if span is None:
            if concept.concept_id not in quoted:
                summary.concepts_dropped += 1
                if len(summary.dropped_labels) < MAX_DROPPED_QUOTES:
                    summary.dropped_labels.append(concept.label)
                continue
        else:
            label = text[span.start : span.end]
            if label != concept.label and len(label) <= MAX_GROUNDED_LABEL_LENGTH:
                concept = concept.model_copy(update={"label": label})
                summary.labels_repaired += 1
        kept_concepts.append(concept)
    ids = {c.concept_id for c in kept_concepts}
    relationships = [
        r for r in extraction.relationships if r.from_concept_id in ids and r.to_concept_id in ids
    ]
    update = {"instances": kept, "concepts": kept_concepts, "relationships": relationships}
    return GroundedExtraction(extraction.model_copy(update=update), summary)
