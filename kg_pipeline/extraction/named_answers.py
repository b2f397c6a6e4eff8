"""Answers in the named shape (prompt kg-extract-v4) turned into ordinary extractions.

A small model asked for ids writes its worked example's id pattern (c1 PLACE_OF_BIRTH c2, ...)
whatever the text says. Asked to name both ends of a relationship, it writes the entities the
text relates. This module re-points those names to concept ids, so everything downstream (quote
grounding, merging, scoring, storage) sees the one extraction schema:

- an endpoint is matched to a listed concept by its label or a search term, compared without
  case, surrounding punctuation, a leading "the" or repeated spaces; an endpoint that is already
  a concept id stays;
- an endpoint naming nothing listed becomes a concept of its own (its kind unknown): the model
  named it as an entity of the text, and quote grounding drops it, with its relationships, when
  the text does not contain it;
- each concept without an instance gets its label as its quote, for grounding to align;
- self-relationships and repeats of the same (head, type, tail) are dropped and counted: under a
  grammar a small model can loop over a few facts until the array's bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")


def name_key(name: str) -> str:
    """The form two names are compared in."""
    return _SPACES.sub(" ", _EDGES.sub("", name.casefold())).removeprefix("the ")


@dataclass
class NamedAnswerSummary:
    resolved: int = 0  # endpoints matched to a listed concept
    added_concepts: int = 0  # endpoints that named nothing listed
    dropped_repeats: int = 0
    dropped_self: int = 0
    dropped_unlisted: int = 0  # relationships dropped for an unlisted end (add_unlisted off)

    def add(self, other: NamedAnswerSummary) -> None:
        """Counts over several answers (gleaning passes) of one chunk."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def _next_id(taken: set[str]) -> str:
    n = len(taken) + 1
    while f"c{n}" in taken:
        n += 1
    return f"c{n}"


def resolve_named_answer(
    extraction: Extraction, *, add_unlisted: bool = True
) -> tuple[Extraction, NamedAnswerSummary]:
    """``add_unlisted=False`` drops a relationship naming something unlisted instead (the
    benchmark measures what adding them is worth)."""
    summary = NamedAnswerSummary()
    concepts = list(extraction.concepts)
    ids = {c.concept_id for c in concepts}
    by_name: dict[str, str] = {}
    for concept in concepts:
        for name in (concept.label, *concept.search_terms):
            by_name.setdefault(name_key(name), concept.concept_id)

    def resolve(endpoint: str) -> str | None:
        if endpoint in ids:
            return endpoint
        key = name_key(endpoint)
        if key in by_name:
            summary.resolved += 1
            return by_name[key]
        if not add_unlisted:
            summary.dropped_unlisted += 1
            return None
        new_id = _next_id(ids)
        ids.add(new_id)
        by_name[key] = new_id
        concepts.append(Concept(concept_id=new_id, label=endpoint, description=""))
        summary.added_concepts += 1
        return new_id

    relationships: list[Relationship] = []
    seen: set[tuple[str, str, str]] = set()
    for rel in extraction.relationships:
        head, tail = resolve(rel.from_concept_id), resolve(rel.to_concept_id)
        if head is None or tail is None:
            continue
        edge = (head, rel.relationship_type, tail)
        if head == tail:
            summary.dropped_self += 1
        elif edge in seen:
            summary.dropped_repeats += 1
        else:
            seen.add(edge)
            relationships.append(
                rel.model_copy(update={"from_concept_id": head, "to_concept_id": tail})
            )
    quoted = {i.concept_id for i in extraction.instances}
    instances = [
        *extraction.instances,
        *(
            Instance(concept_id=c.concept_id, quote=c.label)
            for c in concepts
            if c.concept_id not in quoted
        ),
    ]
    resolved = extraction.model_copy(
        update={"concepts": concepts, "instances": instances, "relationships": relationships}
    )
    return resolved, summary
