"""The packaged Re-DocRED vocabulary: 96 Wikidata relation types, each with a one-line
definition, and the data set's entity types."""

import json
import re
from pathlib import Path

import pytest

import kg_pipeline.contract
from kg_pipeline.contract.vocabulary import named_vocabulary
from kg_pipeline.corpus.importers.redocred import relation_type_name

VOCABULARY = Path(kg_pipeline.contract.__file__).with_name("vocabularies") / "redocred.json"


@pytest.fixture(scope="module")
def definitions() -> dict[str, str]:
    data = json.loads(VOCABULARY.read_text(encoding="utf-8"))["definitions"]
    assert isinstance(data, dict)
    return data


def test_the_vocabulary_loads_by_name_with_a_definition_for_every_type() -> None:
    vocabulary = named_vocabulary("redocred")
    assert len(vocabulary) == 96
    assert set(vocabulary.definitions) == set(vocabulary.types)
    assert "person" in vocabulary.entity_types


def test_there_is_one_definition_per_relation_type(definitions: dict[str, str]) -> None:
    assert len(definitions) == 96
    assert all(re.fullmatch(r"[A-Z0-9_]+", key) for key in definitions)


def test_each_definition_is_a_short_line_naming_head_or_tail(
    definitions: dict[str, str],
) -> None:
    for key, text in definitions.items():
        assert isinstance(text, str), key
        assert text.isascii() and "\n" not in text, key
        assert 0 < len(text) <= 90, key
        assert "head" in text or "tail" in text, key


@pytest.mark.parametrize(
    "name",
    [
        "country of citizenship",
        "located in the administrative territorial entity",
        "contains administrative territorial entity",
        "dissolved, abolished or demolished",
        "languages spoken, written or signed",
        "head of government",
        "publication date",
        "part of",
        "has part",
        "sibling",
    ],
)
def test_keys_follow_the_importers_relation_naming(definitions: dict[str, str], name: str) -> None:
    assert relation_type_name(name) in definitions
