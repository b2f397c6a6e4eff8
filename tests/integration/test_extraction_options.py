"""The extraction step's switches against a loopback OpenAI-compatible server: the v2 prompt and
its schema, quote grounding with offsets, and gleaning merged into the first answer."""

import asyncio
import json
from typing import Any

import pytest

from kg_pipeline.contract.messages import PROMPT_V2, PROMPT_V4, PROMPT_V5, PROMPT_V6
from kg_pipeline.contract.vocabulary import named_vocabulary
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.extraction.extract import ExtractionOptions, extract_chunk
from kg_pipeline.extraction.prompts.wording import (
    BARE_GLEANING_REQUEST,
    GLEANING_REQUEST,
    NAMED_GLEANING_REQUEST,
)
from kg_pipeline.extraction.records import ChunkExtraction
from kg_pipeline.providers import create_provider
from kg_pipeline.serving.endpoints import EndpointSettings
from tests.stand_in_server import Reply, StandInServer, chat_completion, extraction_body

COMPLETIONS = "/v1/chat/completions"
TEXT = "Ada Lovelace was born in London. She worked with Charles Babbage."
CHUNK = chunk_document("d", TEXT)[0]


def answer(
    concepts: list[tuple[str, str]],
    quotes: list[tuple[str, str]],
    rels: list[tuple[str, str, str]],
) -> Reply:
    return chat_completion(json.dumps(extraction_body(concepts, quotes, rels)))


FIRST = answer(
    [("c1", "Ada Lovelace"), ("c2", "London")],
    [("c1", "ada  lovelace"), ("c2", "London"), ("c2", "Paris")],
    [("c1", "c2", "PLACE_OF_BIRTH")],
)
MORE = answer(
    [("c1", "Charles Babbage"), ("c2", "Lovelace")],
    [("c1", "Charles Babbage")],
    [],
)


def run(server: StandInServer, options: ExtractionOptions) -> ChunkExtraction:
    settings = EndpointSettings(
        name="stand-in", provider="vllm", base_url=server.base_url, model="m", max_retries=0
    )

    async def go() -> ChunkExtraction:
        provider = create_provider(settings)
        try:
            return await extract_chunk(
                provider, CHUNK, named_vocabulary("redocred"), options=options
            )
        finally:
            await provider.aclose()

    return asyncio.run(go())


def sent(server: StandInServer, index: int) -> dict[str, Any]:
    body = server.requests[index].body
    assert isinstance(body, dict)
    return body


def test_v2_sends_definitions_and_constrains_every_concept_id_to_the_numbered_ids() -> None:
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, FIRST)
        record = run(server, ExtractionOptions(prompt_version=PROMPT_V2, ground_quotes=False))
    body = sent(server, 0)
    assert "PLACE_OF_BIRTH: tail is the place where head" in body["messages"][0]["content"]
    schema = json.dumps(body["response_format"])
    assert '"enum": ["c1", "c2", "c3"' in schema
    assert record.prompt_version == PROMPT_V2 and record.grounding is None


def test_grounding_replaces_quotes_with_source_text_and_drops_what_is_not_there() -> None:
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, FIRST)
        record = run(server, ExtractionOptions(prompt_version=PROMPT_V2))
    assert record.extraction is not None and record.grounding is not None
    quotes = [(i.concept_id, i.quote) for i in record.extraction.instances]
    assert quotes == [("c1", "Ada Lovelace"), ("c2", "London")]
    assert [TEXT[s:e] for s, e in record.grounding.offsets] == ["Ada Lovelace", "London"]
    assert (record.grounding.repaired, record.grounding.dropped) == (1, 1)
    assert record.grounding.dropped_quotes == ["Paris"]


def test_a_grounded_record_keeps_the_models_own_answer_beside_the_grounded_one() -> None:
    # Grounded quotes are verbatim by construction; the model's own are what quote precision
    # judges, so the record keeps them as the model wrote them.
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, FIRST)
        grounded = run(server, ExtractionOptions(prompt_version=PROMPT_V2))
        server.reply("POST", COMPLETIONS, FIRST)
        ungrounded = run(server, ExtractionOptions(prompt_version=PROMPT_V2, ground_quotes=False))
    assert grounded.model_answer is not None
    assert [i.quote for i in grounded.model_answer.instances] == [
        "ada  lovelace",
        "London",
        "Paris",
    ]
    assert ChunkExtraction.model_validate_json(grounded.model_dump_json()) == grounded
    # Not grounded: the extraction is the model's own, kept once.
    assert ungrounded.model_answer is None and ungrounded.extraction is not None
    assert len(ungrounded.extraction.instances) == 3


def test_gleaning_asks_for_what_was_missed_and_merges_it_into_the_first_answer() -> None:
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, FIRST, MORE)
        record = run(server, ExtractionOptions(prompt_version=PROMPT_V2, gleaning=1))
    assert len(server.requests) == 2
    follow_up = sent(server, 1)["messages"]
    assert follow_up[-1] == {"role": "user", "content": GLEANING_REQUEST}
    assert follow_up[-2]["role"] == "assistant" and "Ada Lovelace" in follow_up[-2]["content"]
    assert record.extraction is not None
    # "Lovelace" (gleaned) is not merged by label alone; Babbage is new; ids renumbered.
    labels = [c.label for c in record.extraction.concepts]
    assert labels[:3] == ["Ada Lovelace", "London", "Charles Babbage"]
    assert [c.concept_id for c in record.extraction.concepts][:3] == [
        "concept_001",
        "concept_002",
        "concept_003",
    ]
    assert record.extraction.relationships[0].to_concept_id == "concept_002"
    assert len(record.gleaning) == 1 and record.gleaning_error is None


def test_a_long_first_answer_is_shown_back_whole_when_gleaning() -> None:
    # 60 concepts with 16 search terms of 50 characters each: over 48,000 characters, so the
    # stored raw text is a capped head and tail; the follow-up must still show the model a
    # complete answer (valid JSON), not the cut one.
    ids = [f"c{n}" for n in range(60)]
    body = extraction_body([(c, f"Person {c}") for c in ids], [(c, "Ada") for c in ids], [])
    for concept in body["concepts"]:
        concept["search_terms"] = ["x" * 50] * 16
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, chat_completion(json.dumps(body)), MORE)
        record = run(server, ExtractionOptions(prompt_version=PROMPT_V2, gleaning=1))
    assert record.stats is not None and record.stats.raw_text_chars is not None
    shown = sent(server, 1)["messages"][-2]
    assert shown["role"] == "assistant"
    assert len(json.loads(shown["content"])["concepts"]) == 60


def test_a_failed_gleaning_pass_keeps_the_first_answer_and_says_why() -> None:
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, FIRST, Reply(500, {"error": "boom"}))
        record = run(server, ExtractionOptions(prompt_version=PROMPT_V2, gleaning=1))
    assert record.status.value == "valid" and record.extraction is not None
    assert [c.label for c in record.extraction.concepts] == ["Ada Lovelace", "London"]
    assert record.gleaning_error is not None and "500" in record.gleaning_error


def test_a_record_merged_from_gleaning_passes_reads_back_from_its_json() -> None:
    # Four passes of 16 different concepts each: 64 in the merged record.
    passes = []
    for p in range(4):
        ids = [f"c{n}" for n in range(1, 17)]
        concepts = [(c, f"Person {p}-{n}") for n, c in enumerate(ids)]
        passes.append(
            answer(concepts, [(c, "Ada Lovelace") for c in ids], [("c1", "c2", "SIBLING")])
        )
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, *passes)
        record = run(
            server, ExtractionOptions(prompt_version=PROMPT_V2, ground_quotes=False, gleaning=3)
        )
    assert record.extraction is not None and len(record.extraction.concepts) == 64
    assert ChunkExtraction.model_validate_json(record.model_dump_json()) == record


NAMED = chat_completion(
    json.dumps(
        {
            "concepts": [
                {"concept_id": "c1", "label": "Ada Lovelace", "description": "person"},
                {"concept_id": "c2", "label": "london", "description": "city"},
            ],
            "relationships": [
                {"head": "Ada Lovelace", "type": "PLACE_OF_BIRTH", "tail": "London", "confidence": 1},
                {"head": "Ada Lovelace", "type": "PLACE_OF_BIRTH", "tail": "London", "confidence": 1},
                {"head": "Charles Babbage", "type": "NOTABLE_WORK", "tail": "Analytical Engine",
                 "confidence": 0.5},
            ],
        }
    )
)  # fmt: skip


# The same answer as v6 writes it: concepts as bare labels, no spaces.
BARE = chat_completion(
    json.dumps(
        {
            "concepts": ["Ada Lovelace", "london"],
            "relationships": [
                {"head": "Ada Lovelace", "type": "PLACE_OF_BIRTH", "tail": "London"},
                {"head": "Ada Lovelace", "type": "PLACE_OF_BIRTH", "tail": "London"},
                {"head": "Charles Babbage", "type": "NOTABLE_WORK", "tail": "Analytical Engine"},
            ],
        },
        separators=(",", ":"),
    )
)


@pytest.mark.parametrize(
    ("version", "reply"), [(PROMPT_V4, NAMED), (PROMPT_V5, NAMED), (PROMPT_V6, BARE)]
)
def test_named_answers_naming_concepts_become_grounded_extractions_with_ids(
    version: str, reply: Reply
) -> None:
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, reply)
        record = run(server, ExtractionOptions(prompt_version=version))
    body = sent(server, 0)
    schema = body["response_format"]["json_schema"]["schema"]
    relationship = schema["properties"]["relationships"]["items"]
    assert list(relationship["properties"]) == ["head", "type", "tail"]
    concept_items = schema["properties"]["concepts"]["items"]
    assert (concept_items["type"] == "string") == (version == PROMPT_V6)
    assert [m["role"] for m in body["messages"]].count("assistant") == 3
    assert record.extraction is not None and record.named_answer is not None
    extraction = record.extraction
    # Babbage is in the text and becomes a concept; the Analytical Engine is not, and goes with
    # the fact that named it. Labels are the quotes, grounded to the text's spelling.
    assert [(c.concept_id, c.label) for c in extraction.concepts] == [
        ("c1", "Ada Lovelace"),
        ("c2", "London"),
        ("c3", "Charles Babbage"),
    ]
    assert [(i.concept_id, i.quote) for i in extraction.instances] == [
        ("c1", "Ada Lovelace"),
        ("c2", "London"),
        ("c3", "Charles Babbage"),
    ]
    assert [(r.from_concept_id, r.to_concept_id) for r in extraction.relationships] == [
        ("c1", "c2")
    ]
    assert record.named_answer.dropped_repeats == 1 and record.named_answer.added_concepts == 2
    assert ChunkExtraction.model_validate_json(record.model_dump_json()) == record


def test_gleaning_a_v4_answer_asks_in_its_named_shape_and_resolves_each_pass() -> None:
    more = chat_completion(
        json.dumps(
            {
                "concepts": [{"concept_id": "c1", "label": "Charles Babbage", "description": "person"}],
                "relationships": [{"head": "Ada Lovelace", "type": "SIBLING", "tail": "Charles Babbage"}],
            }
        )
    )  # fmt: skip
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, NAMED, more)
        record = run(server, ExtractionOptions(prompt_version=PROMPT_V4, gleaning=1))
    follow_up = sent(server, 1)["messages"][-1]["content"]
    assert follow_up == NAMED_GLEANING_REQUEST and "instances" not in follow_up
    assert record.extraction is not None and record.named_answer is not None
    labels = [c.label for c in record.extraction.concepts]
    assert labels.count("Ada Lovelace") == 1 and "Charles Babbage" in labels
    assert len(record.extraction.relationships) == 2  # the first pass's and the gleaned one


def test_gleaning_a_v6_answer_asks_for_bare_labels_and_resolves_each_pass() -> None:
    more = chat_completion(
        json.dumps(
            {
                "concepts": ["Charles Babbage"],
                "relationships": [{"head": "Ada Lovelace", "type": "SIBLING", "tail": "Charles Babbage"}],
            },
            separators=(",", ":"),
        )
    )  # fmt: skip
    with StandInServer() as server:
        server.reply("POST", COMPLETIONS, BARE, more)
        record = run(server, ExtractionOptions(prompt_version=PROMPT_V6, gleaning=1))
    follow_up = sent(server, 1)["messages"][-1]["content"]
    assert follow_up == BARE_GLEANING_REQUEST and "ids" not in follow_up
    assert record.extraction is not None
    labels = [c.label for c in record.extraction.concepts]
    assert labels.count("Ada Lovelace") == 1 and labels.count("Charles Babbage") == 1
    assert len(record.extraction.relationships) == 2  # the first pass's and the gleaned one
