import json

from kg_pipeline.prompts import PROMPT_VERSION, USER_PREFIX, build_messages
from kg_pipeline.schema import Extraction
from kg_pipeline.vocabulary import BASE_VOCABULARY, Vocabulary


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
