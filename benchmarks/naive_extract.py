"""The yardstick: the script a user writes in an afternoon.

One call per document to an OpenAI-compatible server: a system prompt, a one-shot example of the
JSON shape, the document, the data set's relation names as an enum in a JSON schema, temperature 0,
and the answer taken as it comes (``json.loads``, no repair, no grounding, no merging). Its schema
is written the way such a script writes it, from plain pydantic classes with no bounds.

benchmarks/redocred_quality.py runs it beside the pipeline on the same server and documents.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel


class NaiveConcept(BaseModel):
    concept_id: str
    label: str
    description: str
    search_terms: list[str]


class NaiveInstance(BaseModel):
    concept_id: str
    quote: str


class NaiveRelationship(BaseModel):
    from_concept_id: str
    to_concept_id: str
    relationship_type: str
    confidence: float
    direction_semantics: str


class NaiveExtraction(BaseModel):
    concepts: list[NaiveConcept]
    instances: list[NaiveInstance]
    relationships: list[NaiveRelationship]


SYSTEM = (
    "Extract a knowledge graph from the text. Return JSON with concepts (concept_id, label, "
    "description, search_terms), instances (concept_id, quote: an exact quote from the text) "
    "and relationships (from_concept_id, to_concept_id, relationship_type, confidence, "
    "direction_semantics)."
)
EXAMPLE_TEXT = "Marie Curie was born in Warsaw. She won the Nobel Prize in Physics in 1903."
EXAMPLE = {
    "concepts": [
        {"concept_id": "1", "label": "Marie Curie", "description": "a scientist",
         "search_terms": []},
        {"concept_id": "2", "label": "Warsaw", "description": "a city", "search_terms": []},
        {"concept_id": "3", "label": "Nobel Prize in Physics", "description": "an award",
         "search_terms": []},
    ],
    "instances": [
        {"concept_id": "1", "quote": "Marie Curie"},
        {"concept_id": "2", "quote": "Warsaw"},
        {"concept_id": "3", "quote": "Nobel Prize in Physics"},
    ],
    "relationships": [
        {"from_concept_id": "1", "to_concept_id": "2", "relationship_type": "PLACE_OF_BIRTH",
         "confidence": 0.9, "direction_semantics": "outward"},
        {"from_concept_id": "1", "to_concept_id": "3", "relationship_type": "AWARD_RECEIVED",
         "confidence": 0.9, "direction_semantics": "outward"},
    ],
}  # fmt: skip


def naive_schema(relation_types: list[str]) -> dict[str, Any]:
    schema = NaiveExtraction.model_json_schema()
    schema["$defs"]["NaiveRelationship"]["properties"]["relationship_type"] = {
        "type": "string",
        "enum": relation_types,
    }
    return schema


@dataclass(frozen=True)
class NaiveResult:
    seconds: float
    raw: str
    finish_reason: str | None
    completion_tokens: int | None
    parsed: dict[str, Any] | None  # None: the answer was not valid JSON of the schema
    error: str | None = None


def naive_extract(
    client: httpx.Client,
    model: str,
    text: str,
    relation_types: list[str],
    max_tokens: int = 4096,
) -> NaiveResult:
    payload = {
        "model": model,
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": EXAMPLE_TEXT},
            {"role": "assistant", "content": json.dumps(EXAMPLE)},
            {"role": "user", "content": text},
        ],
        # llama-cpp-python's JSON-schema mode; vLLM and OpenAI take "json_schema" instead.
        "response_format": {"type": "json_object", "schema": naive_schema(relation_types)},
    }
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=payload)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    body = response.json()
    choice = body["choices"][0]
    raw = choice["message"].get("content") or ""
    tokens = (body.get("usage") or {}).get("completion_tokens")
    try:
        parsed = NaiveExtraction.model_validate_json(raw).model_dump()
    except ValueError as exc:
        return NaiveResult(seconds, raw, choice.get("finish_reason"), tokens, None, str(exc)[:300])
    return NaiveResult(seconds, raw, choice.get("finish_reason"), tokens, parsed)
