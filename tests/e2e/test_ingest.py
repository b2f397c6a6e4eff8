"""`kg ingest`: the given files in, one knowledge graph out; files that cannot be read are
named with the reason and the rest is still extracted; a chunk the model botches is kept with
its raw output, never dropped."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg_pipeline.cli.main import main
from tests.models import register_model
from tests.stand_in_server import Reply, StandInServer, chat_completion

EXTRACTION = {
    "concepts": [{"concept_id": "concept_001", "label": "canal lock", "description": "A gate.",
                  "search_terms": []}],
    "instances": [{"concept_id": "concept_001", "quote": "canal lock"}],
    "relationships": [],
}  # fmt: skip


def chat(content: str) -> Reply:
    return chat_completion(content, prompt_tokens=90, completion_tokens=30)


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInServer]:
    monkeypatch.chdir(tmp_path)  # no ./dagster_home here: runs go to an ephemeral instance
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", chat(json.dumps(EXTRACTION)))
        register_model("stand-in", server.base_url, max_retries=0)
        yield server


def test_unreadable_files_are_named_and_the_readable_ones_extracted(
    model: StandInServer, tmp_path: Path
) -> None:
    (tmp_path / "good.md").write_text("A canal lock raises boats.", encoding="utf-8")
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("Schleuse am Kanal: Höhe".encode("latin-1"))
    args = ["good.md", "empty.md", "image.png", "latin1.txt", "missing.md", "-o", "graph.json"]
    result = CliRunner().invoke(main, ["ingest", *args])
    assert result.exit_code == 0, result.output
    graph = json.loads((tmp_path / "graph.json").read_text())
    assert [d["path"] for d in graph["documents"]] == ["good.md"]
    assert graph["documents"][0]["graph"]["concepts"][0]["label"] == "canal lock"
    reasons = {s["path"]: s["reason"] for s in graph["skipped"]}
    assert "empty document" in reasons["empty.md"]
    assert "binary content" in reasons["image.png"]
    assert (
        "not valid UTF-8 (byte 0xf6" in reasons["latin1.txt"] and "iconv" in reasons["latin1.txt"]
    )
    assert reasons["missing.md"] == "no such file"
    assert len(model.requests) == 1


def test_nothing_readable_is_a_clear_error(model: StandInServer, tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["ingest", "empty.md", "-o", "graph.json"])
    assert result.exit_code == 1
    assert "none of the given files could be read" in result.output
    assert not (tmp_path / "graph.json").exists() and model.requests == []


def test_a_botched_chunk_is_kept_with_its_raw_output(model: StandInServer, tmp_path: Path) -> None:
    model.reply("POST", "/v1/chat/completions", chat("I would rather not answer in JSON."))
    (tmp_path / "a.md").write_text("A canal lock raises boats.", encoding="utf-8")
    result = CliRunner().invoke(main, ["ingest", "a.md", "-o", "graph.json"])
    assert result.exit_code == 0, result.output
    graph = json.loads((tmp_path / "graph.json").read_text())
    [document] = graph["documents"]
    assert document["failed_chunks"] and document["graph"]["concepts"] == []
    [record] = [json.loads(line) for line in Path(graph["records_file"]).read_text().splitlines()]
    assert record["status"] == "malformed"
    assert "I would rather not answer in JSON." in record["stats"]["raw_text"]


def test_model_names_a_registered_model_other_than_the_active_one(
    model: StandInServer, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text("A canal lock raises boats.", encoding="utf-8")
    with StandInServer() as other:
        other.reply("POST", "/v1/chat/completions", chat(json.dumps(EXTRACTION)))
        register_model("other", other.base_url, model="other-model", active=False)
        result = CliRunner().invoke(main, ["ingest", "a.md", "-o", "g.json", "--model", "other"])
        assert result.exit_code == 0, result.output
        assert len(other.requests) == 1 and model.requests == []
    graph = json.loads((tmp_path / "g.json").read_text())
    assert graph["documents"][0]["models"] == ["other-model"]
