"""The prompt versions by name, and the lookups every other module makes through them.

A version's name is stored with every extraction and scores from different versions are never
pooled, so a version's wording never changes: a new wording is a new entry here.
"""

from __future__ import annotations

from typing import Any

from kg_pipeline.contract.messages import PROMPT_VERSION, PROMPT_VERSIONS, PromptMessages
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, Vocabulary
from kg_pipeline.extraction.prompts.spec import AnswerShape, PromptSpec
from kg_pipeline.extraction.prompts.v1 import V1
from kg_pipeline.extraction.prompts.v2_v3 import V2, V3
from kg_pipeline.extraction.prompts.v4_v5_v6 import V4, V5, V6

PROMPT_SPECS: tuple[PromptSpec, ...] = (V1, V2, V3, V4, V5, V6)
PROMPTS: dict[str, PromptSpec] = {spec.name: spec for spec in PROMPT_SPECS}

# Versions whose answers name relationship endpoints by label and carry no instances: they pass
# through kg_pipeline/extraction/named_answers.py before anything else reads them.
NAMED_VERSIONS = frozenset(name for name, spec in PROMPTS.items() if spec.answer_shape == "named")


def prompt_spec(version: str) -> PromptSpec:
    """The registered version of that name. An unknown name fails rather than falling back to the
    default prompt, whose answers would then be stored under a name they were not made with."""
    try:
        return PROMPTS[version]
    except KeyError:
        raise ValueError(
            f"unknown prompt version {version!r}; known: {', '.join(PROMPT_VERSIONS)}"
        ) from None


def build_messages(
    chunk_text: str, vocabulary: Vocabulary = BASE_VOCABULARY, version: str = PROMPT_VERSION
) -> PromptMessages:
    return prompt_spec(version).build_messages(chunk_text, vocabulary)


def decoding_schema(vocabulary: Vocabulary, version: str = PROMPT_VERSION) -> dict[str, Any]:
    """The decoding schema that goes with a prompt version."""
    return prompt_spec(version).decoding_schema(vocabulary)


def gleaning_request(version: str) -> str:
    return prompt_spec(version).gleaning_request


def answer_shape(version: str) -> AnswerShape:
    return prompt_spec(version).answer_shape


def asks_confidence(version: str) -> bool:
    """Whether the version asks for a confidence per relationship: calibration is measured only
    for answers to a prompt that asked."""
    return prompt_spec(version).asks_confidence
