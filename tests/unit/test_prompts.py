import json

import pytest

from kg_pipeline.contract.messages import (
    PROMPT_V2,
    PROMPT_V3,
    PROMPT_V4,
    PROMPT_V5,
    PROMPT_V6,
    PROMPT_VERSION,
)
from kg_pipeline.contract.schema import Extraction
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, Vocabulary, named_vocabulary
from kg_pipeline.extraction.prompts import (
    NAMED_VERSIONS,
    build_messages,
    decoding_schema,
    gleaning_request,
)
from kg_pipeline.extraction.prompts.wording import (
    BARE_GLEANING_REQUEST,
    GLEANING_REQUEST,
    USER_PREFIX,
)


def test_system_prompt_names_every_relationship_type_and_the_verbatim_rule() -> None:
    messages = build_messages("Some text.")
    for rel_type in BASE_VOCABULARY:
        assert rel_type in messages.system
    assert "verbatim" in messages.system


def test_the_chunk_comes_last_so_the_prefix_is_shared_between_chunks() -> None:
    first = build_messages("Chunk one.").chat()
    second = build_messages("Chunk two.").chat()
    assert first[:-1] == second[:-1]
    assert first[-1] == {"role": "user", "content": USER_PREFIX + "Chunk one."}


def test_the_filled_example_is_a_valid_extraction() -> None:
    example = build_messages("x").example_assistant
    extraction = Extraction.model_validate(json.loads(example))
    assert extraction.concepts and extraction.instances and extraction.relationships


def test_a_custom_vocabulary_replaces_the_types_in_the_prompt() -> None:
    vocab = Vocabulary(name="tiny", categories={"geo": ("LOCATED_IN",)})
    system = build_messages("x", vocab).system
    assert "LOCATED_IN" in system and "CAUSES" not in system


def test_prompt_version_is_declared() -> None:
    assert build_messages("x").version == PROMPT_VERSION


def test_v2_lists_each_type_with_its_definition_and_the_entity_types() -> None:
    vocab = named_vocabulary("redocred")
    system = build_messages("x", vocab, PROMPT_V2).system
    assert "- FATHER: tail is the father of head" in system
    assert "person; organisation; location" in system


def test_v2_example_uses_only_types_the_vocabulary_offers_and_fits_its_schema() -> None:
    for vocab in (named_vocabulary("redocred"), BASE_VOCABULARY, Vocabulary("x", {"c": ("A",)})):
        messages = build_messages("x", vocab, PROMPT_V2)
        example = json.loads(messages.example_assistant)
        assert {r["relationship_type"] for r in example["relationships"]} <= set(vocab.types)
        Extraction.model_validate(example)
        schema = decoding_schema(vocab, PROMPT_V2)
        ids = schema["properties"]["concepts"]["items"]["properties"]["concept_id"]["enum"]
        assert {c["concept_id"] for c in example["concepts"]} <= set(ids)
        assert messages.version == PROMPT_V2


def test_a_gleaning_follow_up_comes_after_the_chunk_and_keeps_the_prefix() -> None:
    messages = build_messages("Chunk.", version=PROMPT_V2)
    follow = messages.with_followup('{"concepts": []}', GLEANING_REQUEST).chat()
    assert follow[: len(messages.chat())] == messages.chat()
    assert follow[-2:] == [
        {"role": "assistant", "content": '{"concepts": []}'},
        {"role": "user", "content": GLEANING_REQUEST},
    ]


def test_an_unknown_prompt_version_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="kg-extract-v1, kg-extract-v2, kg-extract-v3, kg-ext"):
        build_messages("x", version="kg-extract-v0")


def test_v3_example_shows_more_relationships_than_concepts_in_the_fields_its_schema_asks() -> None:
    vocab = named_vocabulary("redocred")
    messages = build_messages("x", vocab, PROMPT_V3)
    example = json.loads(messages.example_assistant)
    assert len(example["relationships"]) > len(example["concepts"])
    assert {r["relationship_type"] for r in example["relationships"]} <= set(vocab.types)
    schema = decoding_schema(vocab, PROMPT_V3)
    relationship = schema["properties"]["relationships"]["items"]
    # The example writes exactly the fields the decoding schema asks for, so copying it is valid.
    assert all(set(r) == set(relationship["required"]) for r in example["relationships"])
    assert "direction_semantics" not in messages.system and "bare name" in messages.system
    Extraction.model_validate(example)
    assert messages.version == PROMPT_V3


def test_v3_falls_back_to_an_example_whose_types_the_vocabulary_offers() -> None:
    example = json.loads(build_messages("x", BASE_VOCABULARY, PROMPT_V3).example_assistant)
    assert {r["relationship_type"] for r in example["relationships"]} <= set(BASE_VOCABULARY.types)


def _fits(value: object, schema: dict[str, object]) -> bool:
    """Whether ``value`` has exactly the keys, types, enums and bounds ``schema`` asks for (the
    subset of JSON schema the decoding schemas use)."""
    if "enum" in schema and value not in schema["enum"]:  # type: ignore[operator]
        return False
    kind = schema.get("type")
    if kind == "object":
        props = schema["properties"]
        assert isinstance(value, dict) and isinstance(props, dict)
        return list(value) == list(props) and all(_fits(value[k], props[k]) for k in props)
    if kind == "array":
        assert isinstance(value, list)
        bound = schema.get("maxItems", len(value))
        assert isinstance(bound, int)
        return len(value) <= bound and all(_fits(v, schema["items"]) for v in value)  # type: ignore[arg-type]
    if kind == "string":
        bound = schema.get("maxLength", 10_000)
        assert isinstance(bound, int)
        return isinstance(value, str) and len(value) <= bound
    if kind == "number":
        return isinstance(value, int | float)
    return True


def test_v4_shows_three_examples_each_written_in_the_named_shape_its_schema_asks() -> None:
    vocab = named_vocabulary("redocred")
    messages = build_messages("The chunk.", vocab, PROMPT_V4)
    chat = messages.chat()
    assert [m["role"] for m in chat] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert chat[-1]["content"] == USER_PREFIX + "The chunk."
    schema = decoding_schema(vocab, PROMPT_V4)
    answers = [json.loads(m["content"]) for m in chat if m["role"] == "assistant"]
    for answer in answers:
        assert _fits(answer, schema), answer
        labels = {c["label"] for c in answer["concepts"]}
        # Every fact names listed concepts, so copying the shape never invents an endpoint.
        assert all({r["head"], r["tail"]} <= labels for r in answer["relationships"])
    assert "head and tail are labels" in messages.system
    assert messages.version == PROMPT_V4


def test_v4_falls_back_to_a_single_example_with_types_the_vocabulary_offers() -> None:
    messages = build_messages("x", BASE_VOCABULARY, PROMPT_V4)
    assert messages.examples == ()
    answer = json.loads(messages.example_assistant)
    assert _fits(answer, decoding_schema(BASE_VOCABULARY, PROMPT_V4))
    assert {r["type"] for r in answer["relationships"]} <= set(BASE_VOCABULARY.types)


def test_v4_keeps_only_the_facts_whose_types_a_small_vocabulary_offers() -> None:
    vocab = Vocabulary("tiny", {"c": ("PRODUCES",)})
    answer = json.loads(build_messages("x", vocab, PROMPT_V4).example_assistant)
    assert [r["type"] for r in answer["relationships"]] == ["PRODUCES"]
    assert _fits(answer, decoding_schema(vocab, PROMPT_V4))


def test_v5_is_v4_with_the_types_named_but_not_defined() -> None:
    vocab = named_vocabulary("redocred")
    v4 = build_messages("The chunk.", vocab, PROMPT_V4)
    v5 = build_messages("The chunk.", vocab, PROMPT_V5)
    definition = vocab.definitions["PLACE_OF_BIRTH"]
    assert definition in v4.system and definition not in v5.system
    assert all(t in v5.system for t in vocab.types)
    assert len(v5.system) < len(v4.system) / 2  # the point of v5: a shorter fixed prefix
    assert (v5.examples, v5.example_assistant) == (v4.examples, v4.example_assistant)
    assert decoding_schema(vocab, PROMPT_V5) == decoding_schema(vocab, PROMPT_V4)
    assert (v5.version, PROMPT_V5 in NAMED_VERSIONS) == (PROMPT_V5, True)


def test_v6_is_v4_answering_with_bare_labels_in_compact_json() -> None:
    vocab = named_vocabulary("redocred")
    v4 = build_messages("The chunk.", vocab, PROMPT_V4)
    v6 = build_messages("The chunk.", vocab, PROMPT_V6)
    assert vocab.definitions["PLACE_OF_BIRTH"] in v6.system  # the definitions stay
    assert "ids c1" in v4.system and "ids c1" not in v6.system
    assert "description" not in v6.system
    schema = decoding_schema(vocab, PROMPT_V6)
    assert schema["properties"]["concepts"]["items"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 60,
    }
    v4_answers = [v4.example_assistant, *(a for _, a in v4.examples)]
    v6_answers = [v6.example_assistant, *(a for _, a in v6.examples)]
    for old, new in zip(v4_answers, v6_answers, strict=True):
        answer = json.loads(new)
        assert _fits(answer, schema), answer
        # The same entities and facts as v4's example, with nothing between JSON tokens.
        assert answer["concepts"] == [c["label"] for c in json.loads(old)["concepts"]]
        assert answer["relationships"] == json.loads(old)["relationships"]
        assert new == json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        assert len(new) < 0.65 * len(old)
    assert (v6.version, PROMPT_V6 in NAMED_VERSIONS) == (PROMPT_V6, True)
    assert "ids" not in gleaning_request(PROMPT_V6) == BARE_GLEANING_REQUEST


def test_v6_falls_back_to_a_single_bare_example_with_types_the_vocabulary_offers() -> None:
    messages = build_messages("x", BASE_VOCABULARY, PROMPT_V6)
    answer = json.loads(messages.example_assistant)
    assert messages.examples == () and all(isinstance(c, str) for c in answer["concepts"])
    assert _fits(answer, decoding_schema(BASE_VOCABULARY, PROMPT_V6))
