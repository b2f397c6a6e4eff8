from kg_pipeline.contract.reference import (
    Provenance,
    Reference,
    ReferenceRelationship,
    check_reference,
)
from kg_pipeline.contract.schema import Concept, Instance

TEXT = "Smoking causes lung cancer."
CURATED = Provenance(source="curated", annotator="a", date="2026-11-25", guideline_version="1.0")


def reference(*rels: ReferenceRelationship, provenance: Provenance | None = CURATED) -> Reference:
    return Reference(
        provenance=provenance,
        concepts=[
            Concept(concept_id="concept_001", label="smoking", description="", search_terms=[]),
            Concept(concept_id="concept_002", label="lung cancer", description="", search_terms=[]),
        ],
        instances=[
            Instance(concept_id="concept_001", quote="Smoking"),
            Instance(concept_id="concept_002", quote="lung cancer"),
        ],
        relationships=list(rels),
    )


def rel(rel_type: str = "CAUSES", **extra: str) -> ReferenceRelationship:
    return ReferenceRelationship(
        from_concept_id="concept_001",
        to_concept_id="concept_002",
        relationship_type=rel_type,
        confidence=0.9,
        **extra,
    )


def test_a_sound_reference_has_no_problems() -> None:
    assert check_reference(TEXT, reference(rel(type_60="TRIGGERS", type_90="LEADS_TO"))) == []


def test_each_guideline_breach_is_named() -> None:
    broken = reference(rel("LIKES"), provenance=None)
    broken.instances[1] = Instance(concept_id="concept_002", quote="lung  cancer")
    problems = check_reference(TEXT, broken)
    assert "no provenance" in problems
    assert "quote not verbatim in the document: 'lung  cancer'" in problems
    assert any("type LIKES outside base31" in p for p in problems)


def test_a_curated_concept_needs_a_quote_but_an_imported_one_may_lack_it() -> None:
    imported = Provenance(
        source="imported", annotator="x", date="2026-11-25", guideline_version="v"
    )
    for provenance, expected in (
        (CURATED, ["concept concept_002 has no instance"]),
        (imported, []),
    ):
        ref = reference(provenance=provenance)
        ref.instances.pop()
        assert check_reference(TEXT, ref) == expected


def test_a_finer_type_must_refine_the_base_type() -> None:
    # PRODUCES' refinement GENERATES is a kg60 type, but not a refinement of CAUSES.
    problems = check_reference(TEXT, reference(rel(type_60="GENERATES", type_90="CAUSES")))
    assert problems == [
        "relationship concept_001->concept_002: type_60 GENERATES is not a kg60 type "
        "refining CAUSES"
    ]


def test_the_same_relationship_twice_is_reported() -> None:
    problems = check_reference(TEXT, reference(rel(), rel()))
    assert problems == ["relationship concept_001->concept_002 CAUSES listed twice"]
