"""The decoding schema as a compact-JSON llama.cpp grammar: what it admits and what it refuses.

The grammar's acceptance of real answers is checked by llama-server itself in
tests/integration/test_embedded_model.py; here, its text."""

import re

import pytest

from kg_pipeline.contract.messages import PROMPT_VERSIONS
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, named_vocabulary
from kg_pipeline.extraction.prompts import decoding_schema
from kg_pipeline.providers.gbnf import SPACE, UnsupportedSchema, schema_to_gbnf


def rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines())


@pytest.mark.parametrize("version", PROMPT_VERSIONS)
@pytest.mark.parametrize("vocabulary", ["base", "kg60", "kg90", "redocred"])
def test_every_prompt_versions_schema_becomes_a_grammar(version: str, vocabulary: str) -> None:
    vocab = BASE_VOCABULARY if vocabulary == "base" else named_vocabulary(vocabulary)
    grammar = rules(schema_to_gbnf(decoding_schema(vocab, version)))
    assert "root" in grammar
    assert all(re.fullmatch(r"[a-zA-Z0-9-]+", name) for name in grammar)
    for relationship_type in vocab.types:
        assert f'"\\"{relationship_type}\\""' in schema_to_gbnf(decoding_schema(vocab, version))


def test_only_one_optional_space_may_stand_between_tokens() -> None:
    grammar = rules(schema_to_gbnf(decoding_schema(BASE_VOCABULARY)))
    assert grammar["space"] == SPACE == '" "?'
    assert "\\n" not in "".join(v for k, v in grammar.items() if k != "char")


def test_bounds_become_repetition_counts() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
            "names": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 2,
            },
        },
        "required": ["tags", "names"],
        "additionalProperties": False,
    }
    grammar = rules(schema_to_gbnf(schema))
    assert grammar["root-tags-item"] == '"\\"" char{0,8} "\\"" space'
    assert grammar["root-tags"] == (
        '"[" space (root-tags-item ("," space root-tags-item){0,2})? "]" space'
    )
    assert grammar["root-names-item"] == '"\\"" char{1,} "\\"" space'
    assert grammar["root-names"] == (
        '"[" space root-names-item ("," space root-names-item){1,} "]" space'
    )


def test_a_confidence_between_0_and_1_cannot_be_written_outside_it() -> None:
    schema = {
        "type": "object",
        "properties": {"c": {"type": "number", "minimum": 0.0, "maximum": 1.0}},
        "required": ["c"],
        "additionalProperties": False,
    }
    assert rules(schema_to_gbnf(schema))["root-c"] == (
        '("0" ("." [0-9]{1,16})? | "1" ("." "0"{1,16})?) space'
    )


@pytest.mark.parametrize(
    ("schema", "names"),
    [
        ({"type": "string", "pattern": "^a$"}, "pattern"),
        ({"type": "integer"}, "integer"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "required": [],
                "additionalProperties": False,
            },
            "required",
        ),
        ({"type": "object", "properties": {}, "required": []}, "additional properties"),
        ({"type": "number", "minimum": 2, "maximum": 5}, "bounds"),
    ],
)
def test_what_it_cannot_translate_faithfully_is_refused_by_name(
    schema: dict[str, object], names: str
) -> None:
    with pytest.raises(UnsupportedSchema, match=names):
        schema_to_gbnf(schema)
