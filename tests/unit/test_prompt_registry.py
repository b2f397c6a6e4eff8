"""The prompt registry: one entry per stored version name, each declaring what goes together."""

from collections import Counter
from collections.abc import Callable

import pytest

from kg_pipeline.contract.messages import PROMPT_VERSION, PROMPT_VERSIONS
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, named_vocabulary
from kg_pipeline.extraction.prompts import (
    PROMPT_SPECS,
    PROMPTS,
    answer_shape,
    asks_confidence,
    build_messages,
    decoding_schema,
    gleaning_request,
    prompt_spec,
)


def test_every_prompt_version_has_exactly_one_registry_entry() -> None:
    entries = Counter(spec.name for spec in PROMPT_SPECS)
    assert entries == Counter(PROMPT_VERSIONS), "a new prompt version: register it once"
    assert all(PROMPTS[name].name == name for name in PROMPT_VERSIONS)


@pytest.mark.parametrize("version", PROMPT_VERSIONS)
def test_each_version_stamps_its_messages_with_its_own_name(version: str) -> None:
    # The name goes into every stored record: an entry building another version's messages
    # would file its answers under the wrong prompt.
    assert build_messages("A chunk.", BASE_VOCABULARY, version).version == version


@pytest.mark.parametrize("version", PROMPT_VERSIONS)
def test_the_declared_answer_shape_is_the_shape_the_decoding_schema_holds_to(version: str) -> None:
    # Only the full shape carries instances; the named shape's relationships name labels.
    schema = decoding_schema(named_vocabulary("redocred"), version)
    relationship = schema["properties"]["relationships"]["items"]["properties"]
    full = answer_shape(version) == "full"
    assert ("instances" in schema["properties"]) == full
    assert ("from_concept_id" in relationship) == full


def test_every_version_carries_a_distinct_one_line_summary() -> None:
    # The summaries make `kg admin extraction set --prompt-version`'s help.
    summaries = [spec.summary for spec in PROMPT_SPECS]
    assert all(s and s == s.strip() and "\n" not in s for s in summaries)
    assert len(set(summaries)) == len(summaries)


@pytest.mark.parametrize("version", PROMPT_VERSIONS)
def test_a_version_declares_it_asks_for_confidence_exactly_when_its_schema_holds_one(
    version: str,
) -> None:
    # Calibration is reported only for versions declaring it; a declaration the schema
    # contradicts would report it for answers that could not state a confidence.
    schema = decoding_schema(named_vocabulary("redocred"), version)
    relationship = schema["properties"]["relationships"]["items"]["properties"]
    assert asks_confidence(version) == ("confidence" in relationship)


def test_v1_to_v3_ask_for_a_confidence_and_v4_to_v6_do_not() -> None:
    asking = {name: asks_confidence(name) for name in PROMPT_VERSIONS}
    assert asking == {
        "kg-extract-v1": True, "kg-extract-v2": True, "kg-extract-v3": True,
        "kg-extract-v4": False, "kg-extract-v5": False, "kg-extract-v6": False,
    }  # fmt: skip


def test_the_default_version_is_v1() -> None:
    assert prompt_spec(PROMPT_VERSION).name == "kg-extract-v1"
    assert build_messages("x") == build_messages("x", BASE_VOCABULARY, PROMPT_VERSION)
    assert decoding_schema(BASE_VOCABULARY) == decoding_schema(BASE_VOCABULARY, PROMPT_VERSION)


@pytest.mark.parametrize(
    "lookup",
    [
        lambda v: build_messages("x", BASE_VOCABULARY, v),
        lambda v: decoding_schema(BASE_VOCABULARY, v),
        gleaning_request,
        answer_shape,
        asks_confidence,
    ],
    ids=["messages", "schema", "gleaning", "shape", "confidence"],
)
def test_every_lookup_of_an_unknown_version_names_the_known_ones(
    lookup: Callable[[str], object],
) -> None:
    with pytest.raises(ValueError, match=r"unknown prompt version 'kg-extract-v0'; known: kg-ex"):
        lookup("kg-extract-v0")
