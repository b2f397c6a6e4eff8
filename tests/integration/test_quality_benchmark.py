"""The Re-DocRED benchmark's own parts: the naive script's request and answer handling against a
loopback server, and its scorer on a hand-checked document."""

import dataclasses
import json
from pathlib import Path

import httpx
import pytest

from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import Concept, Instance
from kg_pipeline.contract.vocabulary import named_vocabulary
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.importers.common import ImportedDocument
from kg_pipeline.extraction.merging import MergePolicy
from tests.benchmark_scripts import load_script
from tests.stand_in_server import StandInServer, chat_completion, extraction_body

naive = load_script("naive_extract")
bench = load_script("redocred_quality")

TEXT = "Ada Lovelace was born in London. Her father was Lord Byron."
DOC = ImportedDocument(
    category="redocred",
    stem="0001",
    text=TEXT,
    reference=Reference(
        concepts=[
            Concept(concept_id="concept_001", label="Ada Lovelace", description=""),
            Concept(concept_id="concept_002", label="London", description=""),
            Concept(concept_id="concept_003", label="Lord Byron", description=""),
        ],
        instances=[Instance(concept_id="concept_001", quote="Ada Lovelace")],
        relationships=[
            ReferenceRelationship(
                from_concept_id="concept_001",
                to_concept_id="concept_002",
                relationship_type="PLACE_OF_BIRTH",
                confidence=1.0,
                direction_semantics="outward",
            ),
            ReferenceRelationship(
                from_concept_id="concept_001",
                to_concept_id="concept_003",
                relationship_type="FATHER",
                confidence=1.0,
                direction_semantics="outward",
            ),
        ],
    ),
)


def answer(labels: list[str], quotes: list[str], rels: list[tuple[str, str, str]]) -> dict:
    ids = [f"c{n}" for n in range(1, max(len(labels), len(quotes)) + 1)]
    concepts = [(ids[n], label) for n, label in enumerate(labels)]
    return extraction_body(concepts, [(ids[n], q) for n, q in enumerate(quotes)], rels)


def stored_row(chunk_id: str, extraction: dict) -> dict:
    """One document's pipeline answer as the benchmark stores it: one chunk, 12 s, one call."""
    chunk = {
        "chunk_id": chunk_id,
        "status": "valid",
        "extraction": extraction,
        "raw": json.dumps(extraction),
        "completion_tokens": 120,
        "finish_reason": "stop",
        "calls": 1,
    }
    return {"seconds": 12.0, "chunks": [chunk]}


def test_the_naive_script_sends_one_constrained_call_at_temperature_zero() -> None:
    good = answer(["Ada Lovelace"], ["Ada Lovelace"], [])
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", chat_completion(json.dumps(good)))
        with httpx.Client(base_url=server.base_url) as client:
            result = naive.naive_extract(client, "m", TEXT, ["FATHER", "PLACE_OF_BIRTH"])
    body = server.requests[0].body
    assert body["temperature"] == 0 and body["messages"][-1]["content"] == TEXT
    schema = json.dumps(body["response_format"]["schema"])
    assert '"enum": ["FATHER", "PLACE_OF_BIRTH"]' in schema
    assert result.parsed == good and result.error is None


def test_the_naive_script_takes_a_broken_answer_as_it_comes() -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", chat_completion('{"concepts": [', "length"))
        with httpx.Client(base_url=server.base_url) as client:
            result = naive.naive_extract(client, "m", TEXT, ["FATHER"])
    assert result.parsed is None and result.finish_reason == "length" and result.error


def test_the_scorer_counts_entities_pairs_relations_and_quotes_by_hand() -> None:
    # Naive: a duplicate "Ada Lovelace", a reversed FATHER, a paraphrased quote.
    naive_row = {
        "parsed": answer(
            ["Ada Lovelace", "Ada Lovelace", "Lord Byron"],
            ["Ada Lovelace", "Ada Lovelace", "lord byron"],
            [("c3", "c1", "FATHER")],
        ),
        "seconds": 10.0,
        "completion_tokens": 100,
        "finish_reason": "stop",
    }
    first = answer(
        ["Ada Lovelace", "London", "Lord Byron", "Lovelace"],
        ["Ada  Lovelace", "London", "Lord Byron"],
        [("c1", "c2", "PLACE_OF_BIRTH"), ("c1", "c3", "FATHER")],
    )
    chunk_id = "0001#0000"
    pipeline_row = stored_row(chunk_id, first)
    naive_totals = bench.score([(DOC, bench.naive_candidate(naive_row))])
    assert naive_totals.entity_exact.true_positives == 2  # one-to-one: the duplicate is a miss
    assert naive_totals.entity_exact.predicted == 3
    assert naive_totals.relations.prf.true_positives == 0 and naive_totals.relations.reversed == 1
    assert naive_totals.pairs.true_positives == 0
    assert (naive_totals.quotes, naive_totals.verbatim) == (3, 2)

    texts = {chunk_id: TEXT}
    grounded = bench.pipeline_candidate(
        pipeline_row, texts, ground=True, policy=MergePolicy.ALIASES
    )
    totals = bench.score([(DOC, grounded)])
    assert (totals.entity_exact.true_positives, totals.entity_exact.predicted) == (3, 4)
    assert totals.relations.prf.true_positives == 2 and totals.pairs.true_positives == 2
    assert (totals.quotes, totals.verbatim) == (3, 3)  # "Ada  Lovelace" grounded to the source
    raw = bench.pipeline_candidate(pipeline_row, texts, ground=False, policy=MergePolicy.NONE)
    assert bench.score([(DOC, raw)]).verbatim == 2


def test_the_two_step_arm_asks_for_relationships_by_label_and_scores_them_by_id() -> None:
    first = answer(["Ada Lovelace", "London", "Lord Byron"], ["Ada Lovelace", "London"], [])
    [chunk] = chunk_document("0001", TEXT)
    chunk_id = chunk.chunk_id
    pipeline_row = stored_row(chunk_id, first)
    found = {
        "relationships": [
            {"head": "Ada Lovelace", "type": "FATHER", "tail": "Lord Byron"},
            {"head": "London", "type": "FATHER", "tail": "London"},  # a self-loop is dropped
        ]
    }
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", chat_completion(json.dumps(found)))
        with httpx.Client(base_url=server.base_url) as client:
            relations = bench._relations(
                client, "m", [chunk], named_vocabulary("redocred"), pipeline_row
            )
    body = server.requests[0].body
    # The follow-up turn comes after the first answer, and labels are the only ends allowed.
    assert body["messages"][-2] == {"role": "assistant", "content": json.dumps(first)}
    assert body["messages"][-1]["content"] == bench.RELATIONS_REQUEST
    item = body["response_format"]["schema"]["properties"]["relationships"]["items"]
    assert item["properties"]["head"]["enum"] == ["Ada Lovelace", "London", "Lord Byron"]

    relations |= {"seconds": 3.0}
    both = bench.pipeline_candidate(
        bench._with_relations(pipeline_row, relations), {chunk_id: TEXT},
        ground=True, policy=MergePolicy.ALIASES,
    )  # fmt: skip
    totals = bench.score([(DOC, both)])
    assert totals.pairs.true_positives == 1 and totals.pairs.predicted == 1
    assert totals.relations.prf.true_positives == 1
    assert (both.calls, both.seconds >= 15.0) == (2, True)


def test_the_speed_check_puts_a_re_run_of_the_naive_script_beside_the_v4_arm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [chunk] = chunk_document("0001", TEXT)
    extraction = answer(["Ada Lovelace", "London"], ["Ada Lovelace", "London"], [])
    naive_row = {
        "doc": "0001",
        "seconds": 30.0,
        "raw": json.dumps(extraction),
        "finish_reason": "stop",
        "completion_tokens": 100,
        "parsed": extraction,
        "error": None,
    }
    files = {
        "naive": naive_row,
        "naive_beside_v4": naive_row | {"seconds": 33.0},
        "pipeline": {"doc": "0001"} | stored_row(chunk.chunk_id, extraction),
        "v4": {"doc": "0001"} | stored_row(chunk.chunk_id, extraction) | {"seconds": 20.0},
    }
    for arm, row in files.items():
        bench._append(tmp_path / "redocred" / f"{arm}.jsonl", row)
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    rows = {r["configuration"]: r for r in bench.score_all([DOC], None)}
    seconds = {
        name: rows[name]["seconds_per_document"]
        for name in (
            "naive script (v4 speed-check subset, first run)",
            "naive script re-run beside v4 (v4 speed-check subset)",
            "pipeline with prompt v4 (v4 speed-check subset)",
        )
    }
    assert list(seconds.values())[:2] == [30.0, 33.0]
    assert 20.0 <= list(seconds.values())[2] < 21.0  # plus the scorer's post-processing
    assert not any("v5 speed-check" in name for name in rows)  # no re-run beside v5 stored


def test_the_speed_check_is_given_again_without_documents_where_the_naive_re_run_ran_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = dataclasses.replace(DOC, stem="0002")
    extraction = answer(["Ada Lovelace", "London"], ["Ada Lovelace", "London"], [])
    for doc, naive_seconds, finish in ((DOC, 30.0, "stop"), (second, 400.0, "length")):
        [chunk] = chunk_document(doc.stem, doc.text)
        naive_row = {
            "doc": doc.stem,
            "seconds": naive_seconds,
            "raw": json.dumps(extraction),
            "finish_reason": finish,
            "completion_tokens": 100,
            "parsed": extraction,
            "error": None,
        }
        pipeline_row = {"doc": doc.stem} | stored_row(chunk.chunk_id, extraction)
        files = {
            "naive": naive_row | {"finish_reason": "stop", "seconds": 30.0},
            "naive_beside_v5": naive_row,
            "pipeline": pipeline_row,
            "v5": pipeline_row | {"seconds": 40.0},
        }
        for arm, row in files.items():
            bench._append(tmp_path / "redocred" / f"{arm}.jsonl", row)
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    rows = {r["configuration"]: r for r in bench.score_all([DOC, second], None)}
    every = rows["naive script re-run beside v5 (v5 speed-check subset)"]
    tame = rows["naive script re-run beside v5 (v5 speed-check subset, no naive runaway)"]
    arm = rows["pipeline with prompt v5 (v5 speed-check subset, no naive runaway)"]
    assert (every["documents"], every["seconds_per_document"], every["runaway_calls"]) == (
        2,
        215.0,
        1,
    )
    assert (tame["documents"], tame["seconds_per_document"], tame["runaway_calls"]) == (1, 30.0, 0)
    assert arm["documents"] == 1 and 40.0 <= arm["seconds_per_document"] < 41.0
    # The stored first run had no runaway, so its rows are not split.
    assert not any("no naive runaway" in name and "v4" in name for name in rows)


def test_the_named_ablation_re_reads_raw_answers_dropping_relationships_to_unlisted_ends() -> None:
    raw = {
        "concepts": [{"concept_id": "c1", "label": "Ada Lovelace", "description": "person"}],
        "relationships": [
            {"head": "Ada Lovelace", "type": "FATHER", "tail": "Lord Byron"},
        ],
    }
    row = {"doc": "0001", "seconds": 5.0, "chunks": [
        {"chunk_id": "0001#0", "status": "valid", "extraction": {"concepts": []},
         "raw": json.dumps(raw), "completion_tokens": 40, "finish_reason": "stop", "calls": 1},
    ]}  # fmt: skip
    [chunk] = bench._unlisted_dropped(row)["chunks"]
    assert [c["label"] for c in chunk["extraction"]["concepts"]] == ["Ada Lovelace"]
    assert chunk["extraction"]["relationships"] == []
    assert chunk["extraction"]["instances"] == [{"concept_id": "c1", "quote": "Ada Lovelace"}]
