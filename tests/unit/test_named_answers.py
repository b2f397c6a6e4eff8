"""Answers naming concepts by label (prompt kg-extract-v4) re-pointed to concept ids."""

from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.extraction.grounding import ground_extraction
from kg_pipeline.extraction.named_answers import name_key, resolve_named_answer


def named(concepts: list[tuple[str, str]], facts: list[tuple[str, str, str]]) -> Extraction:
    return Extraction.model_validate(
        {
            "concepts": [
                {"concept_id": cid, "label": label, "description": "kind"}
                for cid, label in concepts
            ],
            "relationships": [
                {"head": h, "type": t, "tail": d, "confidence": 0.8} for h, t, d in facts
            ],
        }
    )


def edges(extraction: Extraction) -> list[tuple[str, str, str]]:
    return [
        (r.from_concept_id, r.relationship_type, r.to_concept_id) for r in extraction.relationships
    ]


def test_names_compare_without_case_edge_punctuation_a_leading_the_or_repeated_spaces() -> None:
    assert name_key("The  Beatles,") == name_key("beatles") == "beatles"
    assert name_key("Theatre Royal") == "theatre royal"


def test_endpoints_naming_listed_concepts_point_to_their_ids() -> None:
    answer = named(
        [("c1", "Ada Lovelace"), ("c2", "London")],
        [("ada lovelace", "PLACE_OF_BIRTH", "London.")],
    )
    resolved, summary = resolve_named_answer(answer)
    assert edges(resolved) == [("c1", "PLACE_OF_BIRTH", "c2")]
    assert summary.resolved == 2 and summary.added_concepts == 0


def test_a_search_term_or_an_id_names_its_concept_too() -> None:
    answer = Extraction(
        concepts=[
            Concept(concept_id="c1", label="aspirin", description="", search_terms=["ASA"]),
            Concept(concept_id="c2", label="cyclooxygenase", description=""),
        ],
        relationships=[
            Relationship(
                from_concept_id="asa",
                to_concept_id="c2",
                relationship_type="REGULATES",
                confidence=0.9,
            )
        ],
    )
    resolved, _ = resolve_named_answer(answer)
    assert edges(resolved) == [("c1", "REGULATES", "c2")]


def test_an_endpoint_naming_nothing_listed_becomes_a_concept_with_a_fresh_id() -> None:
    answer = named([("c1", "Ada Lovelace")], [("Ada Lovelace", "FATHER", "Lord Byron")])
    resolved, summary = resolve_named_answer(answer)
    assert [(c.concept_id, c.label) for c in resolved.concepts] == [
        ("c1", "Ada Lovelace"),
        ("c2", "Lord Byron"),
    ]
    assert edges(resolved) == [("c1", "FATHER", "c2")]
    assert summary.added_concepts == 1


def test_an_added_concept_the_text_lacks_is_dropped_by_grounding_with_its_relationships() -> None:
    answer = named(
        [("c1", "Ada Lovelace"), ("c2", "London")],
        [("Ada Lovelace", "PLACE_OF_BIRTH", "London"), ("Ada Lovelace", "FATHER", "Lord Byron")],
    )
    resolved, _ = resolve_named_answer(answer)
    grounded = ground_extraction(resolved, "Ada Lovelace was born in London.").extraction
    assert [c.label for c in grounded.concepts] == ["Ada Lovelace", "London"]
    assert edges(grounded) == [("c1", "PLACE_OF_BIRTH", "c2")]


def test_repeated_facts_and_self_relationships_are_dropped_and_counted() -> None:
    answer = named(
        [("c1", "Bled"), ("c2", "Slovenia")],
        [
            ("Bled", "COUNTRY", "Slovenia"),
            ("bled", "COUNTRY", "Slovenia"),
            ("Bled", "COUNTRY", "Slovenia"),
            ("Bled", "PART_OF", "Bled"),
        ],
    )
    resolved, summary = resolve_named_answer(answer)
    assert edges(resolved) == [("c1", "COUNTRY", "c2")]
    assert summary.dropped_repeats == 2 and summary.dropped_self == 1


def test_each_label_becomes_its_concepts_quote_unless_the_answer_quoted_it() -> None:
    answer = Extraction(
        concepts=[
            Concept(concept_id="c1", label="Ada Lovelace", description=""),
            Concept(concept_id="c2", label="London", description=""),
        ],
        instances=[Instance(concept_id="c1", quote="Ada Lovelace was born")],
    )
    resolved, _ = resolve_named_answer(answer)
    assert [(i.concept_id, i.quote) for i in resolved.instances] == [
        ("c1", "Ada Lovelace was born"),
        ("c2", "London"),
    ]


def test_a_resolved_answer_dumps_in_the_one_extraction_schema() -> None:
    resolved, _ = resolve_named_answer(
        named([("c1", "Bled"), ("c2", "Slovenia")], [("Bled", "COUNTRY", "Slovenia")])
    )
    again = Extraction.model_validate(resolved.model_dump(mode="json"))
    assert set(resolved.model_dump(mode="json")["relationships"][0]) == {
        "from_concept_id",
        "to_concept_id",
        "relationship_type",
        "confidence",
        "direction_semantics",
    }
    assert again == resolved


def test_without_adding_unlisted_ends_a_relationship_naming_one_is_dropped_and_counted() -> None:
    answer = named([("c1", "Ada Lovelace")], [("Ada Lovelace", "FATHER", "Lord Byron")])
    resolved, summary = resolve_named_answer(answer, add_unlisted=False)
    assert [c.label for c in resolved.concepts] == ["Ada Lovelace"]
    assert resolved.relationships == [] and summary.dropped_unlisted == 1
