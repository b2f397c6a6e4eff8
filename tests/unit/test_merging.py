from kg_pipeline.merging import merge_extractions
from kg_pipeline.schema import Concept, Extraction, Instance, Relationship


def extraction(
    labels: list[str], quotes: list[tuple[int, str]], rels: list[tuple[int, int, str]]
) -> Extraction:
    return Extraction(
        concepts=[
            Concept(concept_id=f"concept_{i + 1:03d}", label=label, description="", search_terms=[])
            for i, label in enumerate(labels)
        ],
        instances=[Instance(concept_id=f"concept_{i + 1:03d}", quote=q) for i, q in quotes],
        relationships=[
            Relationship(
                from_concept_id=f"concept_{a + 1:03d}",
                to_concept_id=f"concept_{b + 1:03d}",
                relationship_type=t,
                confidence=0.8,
            )
            for a, b, t in rels
        ],
    )


def test_concepts_seen_in_two_chunks_merge_and_ids_are_renumbered() -> None:
    # Chunk 1: oven(001), starter(002); chunk 2: Ovens(001), flour(002): both chunks use
    # concept_001 for different things until merged. Merged: oven 001, starter 002, flour 003.
    first = extraction(["oven", "starter"], [(0, "the oven"), (1, "starter")], [(0, 1, "ENABLES")])
    second = extraction(["Ovens", "flour"], [(0, "the oven"), (1, "flour")], [(1, 0, "USED_FOR")])
    merged = merge_extractions([first, second])
    assert [(c.concept_id, c.label) for c in merged.concepts] == [
        ("concept_001", "oven"),
        ("concept_002", "starter"),
        ("concept_003", "flour"),
    ]
    # "the oven" is quoted in both chunks for the same concept: kept once.
    assert [(i.concept_id, i.quote) for i in merged.instances] == [
        ("concept_001", "the oven"),
        ("concept_002", "starter"),
        ("concept_003", "flour"),
    ]
    assert [
        (r.from_concept_id, r.to_concept_id, r.relationship_type) for r in merged.relationships
    ] == [
        ("concept_001", "concept_002", "ENABLES"),
        ("concept_003", "concept_001", "USED_FOR"),
    ]


def test_relationships_to_undefined_concepts_are_dropped() -> None:
    merged = merge_extractions([extraction(["a"], [], [(0, 5, "CAUSES")])])
    assert merged.relationships == []
