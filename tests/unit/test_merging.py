import numpy as np

from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.extraction.merging import (
    MergePolicy,
    merge_as_extraction,
    merge_document,
    merge_extractions,
)


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


def concept(cid: str, label: str, terms: list[str] | None = None) -> Concept:
    return Concept(concept_id=cid, label=label, description="", search_terms=terms or [])


def test_a_label_that_is_a_search_term_sharing_a_word_merges_and_keeps_both_forms() -> None:
    first = Extraction(concepts=[concept("c1", "Barack Obama", ["Obama"])])
    second = Extraction(
        concepts=[concept("c1", "Obama"), concept("c2", "Chicago")],
        relationships=[
            Relationship(
                from_concept_id="c1",
                to_concept_id="c2",
                relationship_type="RESIDENCE",
                confidence=0.7,
            )
        ],
    )
    merged = merge_document([first, second])
    assert [c.label for c in merged.concepts] == ["Barack Obama", "Chicago"]
    assert merged.relationships[0].from_concept_id == merged.concept_ids[0]
    assert merged.concepts_in == 3 and abs(merged.duplicate_rate - 1 / 3) < 1e-9


def test_a_search_term_naming_an_unrelated_concept_does_not_merge_them() -> None:
    # A small model lists the event a racer rode among the racer's search terms.
    racer = concept("c1", "Wilfried Schneider", ["men's skeleton event"])
    event = concept("c2", "men's skeleton event")
    merged = merge_document([Extraction(concepts=[racer, event])])
    assert [c.label for c in merged.concepts] == ["Wilfried Schneider", "men's skeleton event"]


def test_initials_count_as_a_shared_word_once_a_search_term_links_the_two() -> None:
    unlinked = merge_document(
        [Extraction(concepts=[concept("c1", "World Health Organization"), concept("c2", "WHO")])]
    )
    assert len(unlinked.concepts) == 2
    linked = merge_document(
        [
            Extraction(
                concepts=[
                    concept("c1", "World Health Organization", ["WHO"]),
                    concept("c2", "WHO"),
                ]
            )
        ]
    )
    assert [c.label for c in linked.concepts] == ["World Health Organization"]


def test_merge_policies_none_and_label_keep_what_aliases_would_join() -> None:
    answer = Extraction(
        concepts=[
            concept("c1", "Barack Obama", ["Obama"]),
            concept("c2", "Obama"),
            concept("c3", "obama"),
        ]
    )
    assert len(merge_document([answer], policy=MergePolicy.NONE).concepts) == 3
    assert len(merge_document([answer], policy=MergePolicy.LABEL).concepts) == 2
    assert len(merge_document([answer], policy=MergePolicy.ALIASES).concepts) == 1


def test_a_known_ontology_concept_absorbs_the_document_s_mention_and_keeps_its_id() -> None:
    known = [concept("onto_7", "aspirin", ["acetylsalicylic acid"]), concept("onto_8", "ibuprofen")]
    answer = Extraction(
        concepts=[concept("c1", "Aspirin"), concept("c2", "fever")],
        instances=[Instance(concept_id="c1", quote="Aspirin")],
    )
    merged = merge_document([answer], known=known)
    # ibuprofen is known but not in the document: not part of its merge.
    assert merged.concept_ids == ["onto_7", "concept_001"]
    assert merged.quotes == [("onto_7", "Aspirin")]


def test_an_embedder_merges_labels_close_in_meaning() -> None:
    vectors = {"automobile": [1.0, 0.0], "car": [0.99, 0.05], "bicycle": [0.0, 1.0]}

    def embed(labels: list[str]) -> np.ndarray:
        return np.array([vectors[label] for label in labels])

    answer = Extraction(
        concepts=[concept("c1", "automobile"), concept("c2", "car"), concept("c3", "bicycle")]
    )
    merged = merge_document([answer], embedder=embed)
    assert [c.label for c in merged.concepts] == ["automobile", "bicycle"]
    assert merged.concepts[0].search_terms == ["car"]


def test_a_first_pass_and_its_gleaning_merge_into_one_valid_answer() -> None:
    first = extraction(["oven", "starter"], [(0, "the oven")], [(0, 1, "ENABLES")])
    more = extraction(["flour", "Ovens"], [(0, "flour")], [(0, 1, "USED_FOR")])
    merged = merge_as_extraction([first, more])
    assert [c.label for c in merged.concepts] == ["oven", "starter", "flour"]
    assert [(r.from_concept_id, r.to_concept_id) for r in merged.relationships] == [
        ("concept_001", "concept_002"),
        ("concept_003", "concept_001"),
    ]
    Extraction.model_validate(merged.model_dump())  # within one answer's limits here
