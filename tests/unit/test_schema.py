import json
from typing import Any

import pytest
from pydantic import ValidationError

from kg_pipeline.contract.schema import (
    CEILING,
    DEFAULT_BOUNDS,
    Extraction,
    SchemaBounds,
    extraction_json_schema,
)
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, Vocabulary


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def test_decoding_schema_offers_the_vocabulary_as_an_enum() -> None:
    schema = extraction_json_schema()
    rel = schema["properties"]["relationships"]["items"]["properties"]["relationship_type"]
    assert rel["enum"] == list(BASE_VOCABULARY.types)
    custom = extraction_json_schema(Vocabulary(name="x", categories={"c": ("A", "B")}))
    assert custom["properties"]["relationships"]["items"]["properties"]["relationship_type"][
        "enum"
    ] == ["A", "B"]


def test_decoding_schema_is_self_contained_closed_and_bounded() -> None:
    schema = extraction_json_schema()
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    for node in _walk(schema):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert set(node["required"]) == set(node["properties"])
        if node.get("type") == "array":
            assert "maxItems" in node
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node
    props = schema["properties"]
    assert props["concepts"]["maxItems"] == DEFAULT_BOUNDS.max_concepts
    assert props["concepts"]["minItems"] == 1
    concept = props["concepts"]["items"]["properties"]
    assert set(concept) == {"concept_id", "label", "description", "search_terms"}


def test_extraction_with_the_replaced_systems_field_names_validates() -> None:
    data = {
        "concepts": [
            {"concept_id": "concept_001", "label": "x", "description": "d.", "search_terms": []}
        ],
        "instances": [{"concept_id": "concept_001", "quote": "x"}],
        "relationships": [
            {
                "from_concept_id": "concept_001",
                "to_concept_id": "concept_001",
                "relationship_type": "SIMILAR_TO",
                "confidence": 0.5,
                "direction_semantics": "bidirectional",
            }
        ],
    }
    extraction = Extraction.model_validate(data)
    assert extraction.relationships[0].direction_semantics.value == "bidirectional"


def test_confidence_outside_zero_to_one_is_invalid() -> None:
    rel = {
        "from_concept_id": "a",
        "to_concept_id": "b",
        "relationship_type": "CAUSES",
        "confidence": 1.5,
        "direction_semantics": "outward",
    }
    with pytest.raises(ValidationError, match="confidence"):
        Extraction.model_validate({"relationships": [rel]})


def test_decoding_bounds_beyond_what_validation_accepts_are_refused() -> None:
    with pytest.raises(ValueError, match="max_concepts"):
        extraction_json_schema(bounds=SchemaBounds(max_concepts=CEILING.max_concepts + 1))


def test_bounds_and_ids_shape_the_decoding_schema() -> None:
    bounds = SchemaBounds(max_concepts=3, max_description_length=10)
    schema = extraction_json_schema(bounds=bounds, concept_ids=["c1", "c2", "c3"])
    props = schema["properties"]
    assert props["concepts"]["maxItems"] == 3
    concept = props["concepts"]["items"]["properties"]
    assert concept["description"]["maxLength"] == 10
    relationship = props["relationships"]["items"]["properties"]
    for node in (concept["concept_id"], relationship["from_concept_id"]):
        assert node == {"type": "string", "enum": ["c1", "c2", "c3"]}


def test_an_omitted_relationship_field_is_neither_offered_nor_required_and_takes_its_default() -> (
    None
):
    schema = extraction_json_schema(omit=frozenset({"direction_semantics"}))
    relationship = schema["properties"]["relationships"]["items"]
    assert "direction_semantics" not in relationship["properties"]
    assert "direction_semantics" not in relationship["required"]
    answer = {
        "relationships": [
            {
                "from_concept_id": "a",
                "to_concept_id": "b",
                "relationship_type": "CAUSES",
                "confidence": 0.5,
            }
        ]
    }
    assert Extraction.model_validate(answer).relationships[0].direction_semantics == "outward"


def test_a_required_field_cannot_be_omitted_from_the_decoding_schema() -> None:
    with pytest.raises(ValueError, match="from_concept_id has no default"):
        extraction_json_schema(omit=frozenset({"from_concept_id"}))


def test_the_named_shape_asks_for_labels_and_no_instances_or_search_terms() -> None:
    schema = extraction_json_schema(concept_ids=["c1", "c2"], named=True)
    props = schema["properties"]
    assert set(props) == {"concepts", "relationships"} and schema["required"] == list(props)
    assert "search_terms" not in props["concepts"]["items"]["properties"]
    relationship = props["relationships"]["items"]
    # head, type, tail in the order a fact is read; each end a label, not an id enum.
    assert relationship["required"] == ["head", "type", "tail", "confidence", "direction_semantics"]
    assert relationship["properties"]["head"] == {"type": "string", "minLength": 1, "maxLength": 80}
    assert "enum" in relationship["properties"]["type"]


def test_an_answer_in_the_named_shape_validates_into_the_one_schema() -> None:
    answer = {
        "concepts": [{"concept_id": "c1", "label": "Bled", "description": "town"}],
        "relationships": [
            {"head": "Bled", "type": "COUNTRY", "tail": "Slovenia", "confidence": 0.9}
        ],
    }
    extraction = Extraction.model_validate(answer)
    assert extraction.instances == [] and extraction.concepts[0].search_terms == []
    relationship = extraction.relationships[0]
    assert (relationship.from_concept_id, relationship.relationship_type) == ("Bled", "COUNTRY")
    assert relationship.to_concept_id == "Slovenia"


def test_confidence_is_a_number_whenever_the_decoding_schema_asks_for_it() -> None:
    relationship = extraction_json_schema()["properties"]["relationships"]["items"]
    assert relationship["properties"]["confidence"] == {
        "type": "number",
        "minimum": 0.0,
        "maximum": 1.0,
    }
    lean = extraction_json_schema(omit=frozenset({"confidence"}))
    assert "confidence" not in lean["properties"]["relationships"]["items"]["properties"]
    answer = {"relationships": [{"head": "a", "type": "CAUSES", "tail": "b"}]}
    assert Extraction.model_validate(answer).relationships[0].confidence is None


def test_the_bare_shape_lists_concepts_as_labels_and_needs_named_relationships() -> None:
    schema = extraction_json_schema(named=True, bare=True)
    concepts = schema["properties"]["concepts"]
    assert concepts["items"] == {"type": "string", "minLength": 1, "maxLength": 80}
    assert concepts["minItems"] == 1 and concepts["maxItems"] == DEFAULT_BOUNDS.max_concepts
    with pytest.raises(ValueError, match="named shape"):
        extraction_json_schema(bare=True)


def test_concepts_written_as_labels_get_the_next_free_ids_and_no_description() -> None:
    answer = {
        "concepts": ["Bled", {"concept_id": "c2", "label": "Slovenia", "description": ""}, "1011"],
        "relationships": [{"head": "Bled", "type": "COUNTRY", "tail": "Slovenia"}],
    }
    concepts = Extraction.model_validate(answer).concepts
    assert [(c.concept_id, c.label, c.description) for c in concepts] == [
        ("c1", "Bled", ""),
        ("c2", "Slovenia", ""),
        ("c3", "1011", ""),
    ]
    # A blank label names nothing: it goes, and the rest of the answer stays.
    blank = Extraction.model_validate({"concepts": ["Bled", "", "  ", "1011"]})
    assert [(c.concept_id, c.label) for c in blank.concepts] == [("c1", "Bled"), ("c2", "1011")]
