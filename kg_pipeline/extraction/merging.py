"""Chunk extractions -> one extraction per document.

Chunks overlap and each numbers its concepts from its first id, so ids collide across chunks and a
concept seen in two chunks appears twice; a small model also lists one entity twice in one answer
("Obama", "Barack Obama"). Merging finds the concepts that name the same thing, renumbers them,
keeps every surface form as a search term, and re-points instances and relationships to the merged
ids, without duplicates.

When do two concepts name the same thing (``MergePolicy.ALIASES``, the default)?
- their normalised labels are equal (``normalise_label``: case, punctuation, plural -s); or
- one's label is a search term of the other, and the two labels share a word or one is the
  other's initials ("WHO" ~ "World Health Organization"). Small models put loosely related
  phrases into search terms (a racer's terms listing the race he rode); requiring a shared word
  keeps those apart; or
- with an ``embedder`` (an embedding endpoint), the labels' cosine is at least
  ``EMBEDDING_MERGE_THRESHOLD``.

Concepts already known for the ontology (``known``) are merged into first, so a document's
"aspirin" joins the ontology's aspirin and keeps its label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from kg_pipeline.contract.normalise import normalise_label
from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import (
    CEILING,
    Concept,
    DirectionSemantics,
    Extraction,
    Instance,
    Relationship,
)

# Labels this close in embedding space are taken as one concept. Set high: a wrong merge loses a
# concept and its relationships, while a missed one only leaves a duplicate.
EMBEDDING_MERGE_THRESHOLD = 0.92

Embedder = Callable[[list[str]], np.ndarray]
_STOPWORDS = frozenset({"the", "a", "an", "of", "and", "in", "on", "for", "to", "de", "la", "le"})


class MergePolicy(StrEnum):
    NONE = "none"  # every chunk's concepts kept as listed: the baseline the others improve on
    LABEL = "label"  # equal normalised labels only
    ALIASES = "aliases"  # labels, search terms with a shared word, optional embeddings


@dataclass(frozen=True, slots=True)
class MergedEdge:
    from_concept_id: str
    to_concept_id: str
    relationship_type: str
    confidence: float | None
    direction_semantics: DirectionSemantics


@dataclass
class MergedDocument:
    """The merge, lean: ``concepts[i]`` (its own ``concept_id`` is its chunk's) has the merged id
    ``concept_ids[i]``. Scoring reads this directly; no model object is rebuilt for it."""

    concepts: list[Concept] = field(default_factory=list)
    concept_ids: list[str] = field(default_factory=list)
    quotes: list[tuple[str, str]] = field(default_factory=list)  # (merged concept id, quote)
    relationships: list[MergedEdge] = field(default_factory=list)
    concepts_in: int = 0  # concepts listed by the chunks, before merging

    @property
    def duplicate_rate(self) -> float:
        """Share of the listed concepts that were another's duplicate."""
        return 1 - len(self.concepts) / self.concepts_in if self.concepts_in else 0.0


def _words(label: str) -> set[str]:
    return {w for w in normalise_label(label).split() if w not in _STOPWORDS}


def _initials(label: str) -> str:
    return "".join(w[0] for w in normalise_label(label).split() if w not in _STOPWORDS)


def _related_labels(a: str, b: str) -> bool:
    if _words(a) & _words(b):
        return True
    short, long = sorted((a, b), key=len)
    compact = normalise_label(short).replace(" ", "")
    return len(compact) >= 2 and compact == _initials(long)


class _Index:
    """Merged concepts and the forms that find them."""

    def __init__(self, policy: MergePolicy, embedder: Embedder | None) -> None:
        self.policy = policy
        self.embedder = embedder
        self.concepts: list[Concept] = []
        self.by_label: dict[str, int] = {}
        self.by_term: dict[str, list[int]] = {}
        self.vectors: list[np.ndarray] = []

    def find(self, concept: Concept) -> int | None:
        if self.policy is MergePolicy.NONE:
            return None
        label = normalise_label(concept.label)
        if label in self.by_label:
            return self.by_label[label]
        if self.policy is MergePolicy.LABEL:
            return None
        # Its label is a known concept's search term, or a search term is a known label.
        for position in self.by_term.get(label, []):
            if _related_labels(concept.label, self.concepts[position].label):
                return position
        for term in concept.search_terms:
            found = self.by_label.get(normalise_label(term))
            if found is not None and _related_labels(concept.label, self.concepts[found].label):
                return found
        if self.embedder is not None and self.vectors:
            vector = self._embed(concept.label)
            similarity = np.stack(self.vectors) @ vector
            best = int(np.argmax(similarity))
            if similarity[best] >= EMBEDDING_MERGE_THRESHOLD:
                return best
        return None

    def _embed(self, label: str) -> np.ndarray:
        assert self.embedder is not None
        vector = np.asarray(self.embedder([label])[0], dtype=float)
        result: np.ndarray = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return result

    def add(self, concept: Concept) -> int:
        position = len(self.concepts)
        self.concepts.append(concept)
        self._register(position, concept)
        if self.embedder is not None and self.policy is MergePolicy.ALIASES:
            self.vectors.append(self._embed(concept.label))
        return position

    def absorb(self, position: int, concept: Concept) -> None:
        """The merged concept keeps its label; every other surface form becomes a search term."""
        known = self.concepts[position]
        label = normalise_label(known.label)
        forms = [concept.label, *concept.search_terms]
        terms = list(
            dict.fromkeys(
                t for t in [*known.search_terms, *forms] if t and normalise_label(t) != label
            )
        )
        if terms != known.search_terms:
            # model_construct: both parts were validated already; merged terms may exceed the
            # per-answer bound, which is a limit on one model answer, not on a merged concept.
            self.concepts[position] = Concept.model_construct(
                concept_id=known.concept_id,
                label=known.label,
                description=known.description,
                search_terms=terms,
            )
            self._register(position, self.concepts[position])

    def _register(self, position: int, concept: Concept) -> None:
        self.by_label.setdefault(normalise_label(concept.label), position)
        for term in concept.search_terms:
            bucket = self.by_term.setdefault(normalise_label(term), [])
            if position not in bucket:
                bucket.append(position)


def merge_document(
    extractions: Sequence[Extraction],
    with_quotes: bool = True,
    *,
    policy: MergePolicy = MergePolicy.ALIASES,
    known: Sequence[Concept] = (),
    embedder: Embedder | None = None,
) -> MergedDocument:
    merged = MergedDocument()
    index = _Index(policy, embedder)
    for concept in known:
        index.add(concept)
        merged.concept_ids.append(concept.concept_id)
    seen_quotes: set[tuple[str, str]] = set()
    seen_edges: set[tuple[str, str, str]] = set()
    for extraction in extractions:
        local: dict[str, str] = {}  # this chunk's concept id -> merged id
        for concept in extraction.concepts:
            merged.concepts_in += 1
            position = index.find(concept)
            if position is None:
                position = index.add(concept)
                merged.concept_ids.append(f"concept_{position + 1 - len(known):03d}")
            else:
                index.absorb(position, concept)
            # A chunk listing one id twice keeps its first meaning.
            local.setdefault(concept.concept_id, merged.concept_ids[position])
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
            if edge_key[0] != edge_key[1] and edge_key not in seen_edges:
                seen_edges.add(edge_key)
                merged.relationships.append(
                    MergedEdge(*edge_key, rel.confidence, rel.direction_semantics)
                )
    # Known concepts nothing in the document mentioned are not part of the document.
    mentioned = {cid for cid, _ in merged.quotes} | {
        cid for e in merged.relationships for cid in (e.from_concept_id, e.to_concept_id)
    }
    keep = [
        i
        for i in range(len(index.concepts))
        if i >= len(known) or merged.concept_ids[i] in mentioned
    ]
    merged.concepts = [index.concepts[i] for i in keep]
    merged.concept_ids = [merged.concept_ids[i] for i in keep]
    return merged


def _renumbered(merged: MergedDocument) -> list[Concept]:
    """The merged concepts under their merged ids (``model_construct``: validated already)."""
    return [
        Concept.model_construct(
            concept_id=merged_id,
            label=c.label,
            description=c.description,
            search_terms=c.search_terms,
        )
        for c, merged_id in zip(merged.concepts, merged.concept_ids, strict=True)
    ]


def merge_extractions(
    extractions: Sequence[Extraction], policy: MergePolicy = MergePolicy.ALIASES
) -> Reference:
    """The merge as a full Reference (e.g. a recorded model baseline)."""
    merged = merge_document(extractions, policy=policy)
    return Reference(
        concepts=_renumbered(merged),
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


def merge_as_extraction(extractions: Sequence[Extraction]) -> Extraction:
    """Several answers about one text (a first pass and its gleaning) as one answer. Built with
    ``model_construct``: together they may hold more items than one answer may, but no more
    than validation accepts (``CEILING``, which a stored record is read back under): at most
    four passes fit it item for item, and merged search terms are cut to its limit."""
    merged = merge_document(extractions)
    concepts = [
        c.model_copy(update={"search_terms": c.search_terms[: CEILING.max_search_terms]})
        for c in _renumbered(merged)
    ]
    return Extraction.model_construct(
        concepts=concepts,
        instances=[Instance.model_construct(concept_id=c, quote=q) for c, q in merged.quotes],
        relationships=[
            Relationship.model_construct(
                from_concept_id=e.from_concept_id,
                to_concept_id=e.to_concept_id,
                relationship_type=e.relationship_type,
                confidence=e.confidence,
                direction_semantics=e.direction_semantics,
            )
            for e in merged.relationships
        ],
    )
