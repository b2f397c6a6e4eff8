"""`kg bench` sends a model what the Re-DocRED side script's prompt arms send, so that the side
script's committed figures and the product path's are answers to one request.

Both run here against one loopback stand-in, on the same drawn document of a DocRED-shaped data
set whose relations are the packaged Re-DocRED vocabulary's (its definitions and entity kinds
in the prompt, all three worked examples usable): `kg bench` through the assets with the
embedded model's registered row, the side script through its own arm function
(benchmarks/redocred_quality.py ``_pipeline``) with the endpoint it measures by default. The
two request bodies must be equal, every field: messages, grammar, sampling settings, budget."""

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kg_pipeline.cli.main import main
from kg_pipeline.contract.messages import PROMPT_V6
from kg_pipeline.contract.vocabulary import named_vocabulary
from kg_pipeline.corpus.chunking import ChunkingConfig
from kg_pipeline.corpus.importers.redocred import import_redocred
from kg_pipeline.defs.assets.corpus import ChunksConfig
from kg_pipeline.defs.registry import config_from_entry
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT, benchmark_target
from kg_pipeline.serving.local_model import MODEL_ALIAS
from kg_pipeline.store.config import ConfigStore
from tests.benchmark_scripts import load_script
from tests.stand_in_server import StandInServer, chat_completion

side_script = load_script("redocred_quality")

CHAT = ("POST", "/v1/chat/completions")
SEED = 0
# A v6 answer (concepts as bare labels, relationships by label): valid, so each side makes one call.
ANSWER = {
    "concepts": ["Gregorio Pacheco Leyes", "Livi Livi"],
    "relationships": [
        {"head": "Gregorio Pacheco Leyes", "type": "PLACE_OF_BIRTH", "tail": "Livi Livi"}
    ],
}
# Re-DocRED-like documents: (title, sentences, entities as (surface form, type), facts as
# (head entity, Wikidata relation, tail entity)), tokenised as the data set is.
DOCUMENTS = [
    (
        "Gregorio Pacheco",
        [
            "Gregorio Pacheco Leyes ( 4 July 1823 - 20 August 1899 ) was a Bolivian politician "
            "who served as President of Bolivia from 1884 to 1888 .",
            "He was born in Livi Livi , in the Department of Potosí , and made his fortune in "
            "silver mining .",
            "He founded the Democratic Party in 1883 .",
        ],
        [
            ("Gregorio Pacheco Leyes", "PER"),
            ("4 July 1823", "TIME"),
            ("20 August 1899", "TIME"),
            ("Bolivian", "LOC"),
            ("Livi Livi", "LOC"),
            ("Department of Potosí", "LOC"),
            ("Democratic Party", "ORG"),
            ("1883", "TIME"),
        ],
        [
            (0, "DATE_OF_BIRTH", 1),
            (0, "DATE_OF_DEATH", 2),
            (0, "COUNTRY_OF_CITIZENSHIP", 3),
            (0, "PLACE_OF_BIRTH", 4),
            (4, "LOCATED_IN_THE_ADMINISTRATIVE_TERRITORIAL_ENTITY", 5),
            (6, "FOUNDED_BY", 0),
            (6, "INCEPTION", 7),
        ],
    ),
    (
        "Lake Ohrid",
        [
            "Lake Ohrid straddles the mountainous border between North Macedonia and Albania .",
            "The town of Ohrid lies on its north-eastern shore .",
        ],
        [
            ("Lake Ohrid", "LOC"),
            ("North Macedonia", "LOC"),
            ("Albania", "LOC"),
            ("Ohrid", "LOC"),
        ],
        [(0, "COUNTRY", 1), (0, "COUNTRY", 2), (3, "COUNTRY", 1)],
    ),
]


def _mention(sents: list[list[str]], surface: str) -> dict[str, Any]:
    """The first occurrence of ``surface`` as a run of tokens, as DocRED marks a mention."""
    words = surface.split()
    for sent_id, tokens in enumerate(sents):
        for start in range(len(tokens) - len(words) + 1):
            if tokens[start : start + len(words)] == words:
                return {"name": surface, "pos": [start, start + len(words)], "sent_id": sent_id}
    raise AssertionError(f"{surface!r} is not in the document")


def docred_data(folder: Path) -> Path:
    """dev_revised.json and a rel_info.json naming the packaged vocabulary's relations, so the
    import takes the packaged vocabulary (definitions, entity kinds) as a real import does."""
    types = named_vocabulary("redocred").types
    rel_info = {f"P{n}": rel_type.lower().replace("_", " ") for n, rel_type in enumerate(types)}
    property_of = {rel_type: pid for pid, rel_type in zip(rel_info, types, strict=True)}
    documents = []
    for title, sentences, entities, facts in DOCUMENTS:
        sents = [sentence.split() for sentence in sentences]
        vertex_set = [[_mention(sents, surface) | {"type": kind}] for surface, kind in entities]
        labels = [{"h": h, "t": t, "r": property_of[r], "evidence": []} for h, r, t in facts]
        documents.append(
            {"title": title, "sents": sents, "vertexSet": vertex_set, "labels": labels}
        )
    folder.mkdir(parents=True)
    (folder / "rel_info.json").write_text(json.dumps(rel_info), encoding="utf-8")
    data = folder / "dev_revised.json"
    data.write_text(json.dumps(documents), encoding="utf-8")
    return data


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no ./dagster_home here: runs go to an ephemeral instance
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "KG_ENDPOINTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KG_RESULTS_DIR", "results")
    monkeypatch.setenv("KG_DATASETS_DIR", str(tmp_path / "datasets"))
    docred_data(tmp_path / "datasets" / "redocred")
    yield tmp_path


def register_embedded_model(base_url: str) -> None:
    """The embedded model's row as a fresh store seeds it (kg_pipeline/defs/registry.py), at
    the stand-in's address and with prompt v6 chosen, as a user measuring v6 has it."""
    entry = DEFAULT_ENDPOINT.model_copy(
        update={"name": "local", "base_url": base_url, "manage_local_server": False}
    )
    config = config_from_entry(entry, active=True)
    options = config.options.model_copy(update={"prompt_version": PROMPT_V6})
    ConfigStore().save(config.model_copy(update={"options": options}), updated_by="test")


def chat_bodies(server: StandInServer, since: int = 0) -> list[Any]:
    return [r.body for r in server.requests[since:] if (r.method, r.path) == CHAT]


def test_kg_bench_sends_the_side_scripts_v6_request_for_the_same_document(workdir: Path) -> None:
    data = workdir / "datasets" / "redocred" / "dev_revised.json"
    with StandInServer() as server:
        server.reply(*CHAT, chat_completion(json.dumps(ANSWER)))
        register_embedded_model(server.base_url)
        args = ["bench", "redocred", "--sample", "1", "--seed", str(SEED), "--model", "local"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        [product] = chat_bodies(server)
        # The side script's v6 arm, as its main() draws and its prompt_pass extracts.
        documents, vocabulary, _ = import_redocred(data)
        [doc] = random.Random(SEED).sample(documents, 1)
        settings = benchmark_target(server.base_url, MODEL_ALIAS, "llamacpp")
        before = len(server.requests)
        chunks = side_script.document_chunks(doc)
        asyncio.run(side_script._pipeline(settings, chunks, vocabulary, PROMPT_V6))
        [side] = chat_bodies(server, before)
    assert vocabulary.definitions and vocabulary.entity_types  # the packaged vocabulary
    # System prompt, three worked examples, the document: the case the figures were made in.
    assert [m["role"] for m in side["messages"]] == ["system"] + ["user", "assistant"] * 3 + [
        "user"
    ]
    assert side["messages"][-1]["content"].endswith(doc.text.strip())
    assert product["messages"] == side["messages"]
    assert product == side


def test_the_chunks_assets_defaults_are_the_chunkers_own() -> None:
    """The side script cuts with ``ChunkingConfig()``; the `chunks` asset's defaults must cut
    the same, or a document split in one path and whole in the other gets other prompts."""
    defaults = ChunkingConfig()
    assert ChunksConfig().model_dump() == {
        "target_words": defaults.target_words,
        "min_words": defaults.min_words,
        "max_words": defaults.max_words,
        "overlap_words": defaults.overlap_words,
        "max_chars": defaults.max_chars,
    }
