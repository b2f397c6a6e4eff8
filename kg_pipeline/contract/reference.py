"""Reference extractions: what a model's output is scored against.

A reference covers a whole document (not one chunk), so it carries no decoding bounds; it records
where it came from (curated by hand, imported from a public gold set, or recorded from a model),
and each relationship may carry its type in the finer 60- and 90-type vocabularies.

A reference imported from a gold set with metrics of its own (Text2KGBench) also keeps the data
set's triples as the data set writes them and the ontology they were drawn from: its metrics
compare raw entity ids (``Airman_(comicsCharacter)``, quotes and all) and relation labels, which
the readable concepts and UPPER_SNAKE types of the reference no longer spell.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kg_pipeline.contract.schema import Concept, Instance, Relationship
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, Vocabulary, named_vocabulary


class Provenance(BaseModel):
    source: Literal["curated", "imported", "model"]
    annotator: str = Field(min_length=1, description="Who curated it, or the data set / model.")
    date: dt.date
    guideline_version: str = Field(min_length=1)
    notes: str | None = None


class ReferenceRelationship(Relationship):
    type_60: str | None = Field(default=None, description="Type in the 60-type vocabulary.")
    type_90: str | None = Field(default=None, description="Type in the 90-type vocabulary.")


class GoldTriple(BaseModel):
    """One triple as the gold set writes it, under the data set's own keys."""

    model_config = ConfigDict(extra="forbid")

    sub: str
    rel: str
    obj: str


class GoldOntology(BaseModel):
    """What a gold set's metrics read of the ontology a document was annotated with: its
    relation labels (conformance) and concept labels (hallucination context)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    relations: list[str] = Field(default_factory=list)
    concepts: list[str] = Field(default_factory=list)


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provenance: Provenance | None = None
    concepts: list[Concept] = Field(default_factory=list)
    instances: list[Instance] = Field(default_factory=list)
    relationships: list[ReferenceRelationship] = Field(default_factory=list)
    # The gold set's own triples and ontology, for its own metrics; None for every other
    # reference (and left out of its file).
    gold_triples: list[GoldTriple] | None = None
    ontology: GoldOntology | None = None


def check_reference(
    text: str, reference: Reference, vocabulary: Vocabulary = BASE_VOCABULARY
) -> list[str]:
    """Every way the reference breaks the annotation guideline; empty when it is sound."""
    problems: list[str] = []
    if reference.provenance is None:
        problems.append("no provenance")
    ids = [c.concept_id for c in reference.concepts]
    problems += [
        f"concept id {i} listed twice" for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    known = set(ids)
    supported = {i.concept_id for i in reference.instances}
    curated = reference.provenance is not None and reference.provenance.source == "curated"
    if curated:
        # Public gold sets annotate entities they never quote verbatim (normalised dates, ids);
        # only our own guideline demands a quote for every concept.
        problems += [f"concept {c} has no instance" for c in ids if c not in supported]
    for instance in reference.instances:
        if instance.concept_id not in known:
            problems.append(f"instance of unknown concept {instance.concept_id}")
        if instance.quote not in text:
            problems.append(f"quote not verbatim in the document: {instance.quote!r}")
    seen: set[tuple[str, str, str]] = set()
    for rel in reference.relationships:
        where = f"{rel.from_concept_id}->{rel.to_concept_id}"
        for end in (rel.from_concept_id, rel.to_concept_id):
            if end not in known:
                problems.append(f"relationship {where} joins unknown concept {end}")
        if curated and rel.from_concept_id == rel.to_concept_id:
            problems.append(f"relationship {where} joins a concept to itself")
        key = (rel.from_concept_id, rel.to_concept_id, rel.relationship_type)
        if key in seen:
            problems.append(f"relationship {where} {rel.relationship_type} listed twice")
        seen.add(key)
        if rel.relationship_type not in vocabulary:
            problems.append(
                f"relationship {where} has type {rel.relationship_type} outside {vocabulary.name}"
            )
        problems += _finer_type_problems(rel, where)
    return problems


def _finer_type_problems(rel: ReferenceRelationship, where: str) -> list[str]:
    """A finer type, where given, must exist in its vocabulary and refine the base type."""
    problems = []
    for field_name, vocabulary_name in (("type_60", "kg60"), ("type_90", "kg90")):
        finer = getattr(rel, field_name)
        if finer is None:
            continue
        vocabulary = named_vocabulary(vocabulary_name)
        if finer not in vocabulary or vocabulary.to_base(finer) != rel.relationship_type:
            problems.append(
                f"relationship {where}: {field_name} {finer} is not a {vocabulary_name} type "
                f"refining {rel.relationship_type}"
            )
    return problems
