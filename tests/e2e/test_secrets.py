"""A planted API key appears in no log, metadata, report, record or exception."""

import json
from pathlib import Path

import dagster as dg
import pytest

from kg_pipeline.assets.corpus import DocumentsConfig
from kg_pipeline.definitions import baseline, chunks, documents, extractions, quality_report
from kg_pipeline.endpoints import DEFAULT_ENDPOINT
from tests.models import materialize_partition, register_model
from tests.stand_in_server import Reply, StandInServer

SECRET = "sk-planted-7f3a9c1e5b"


def test_a_planted_key_is_found_nowhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    dagster_instance: dg.DagsterInstance,
) -> None:
    monkeypatch.setenv("PLANTED_KEY", SECRET)
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    (corpus / "a.md").write_text("A canal lock raises boats.", encoding="utf-8")
    with StandInServer() as server:
        # The server rejects the key and echoes it back, as real APIs do.
        server.reply(
            "POST", "/v1/chat/completions",
            Reply(401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}),
        )  # fmt: skip
        register_model(
            DEFAULT_ENDPOINT.name, server.base_url, model="gpt-4o", provider="openai",
            max_retries=0, options={"api_key_env": "PLANTED_KEY"},
        )  # fmt: skip
        result = materialize_partition(
            [documents, chunks, extractions, baseline, quality_report],
            DEFAULT_ENDPOINT.name,
            instance=dagster_instance,
            run_config=dg.RunConfig(
                ops={"documents": DocumentsConfig(corpus_dir=str(tmp_path / "corpus"))}
            ),
        )
        assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"  # it was used
    records = result.output_for_node("extractions")
    assert records[0].status.value == "unavailable" and "[redacted]" in (records[0].error or "")
    searched = [
        json.dumps([str(e) for e in dagster_instance.all_logs(result.run_id)]),
        json.dumps([r.model_dump(mode="json") for r in records]),
        str(result.output_for_node("quality_report").model_dump(mode="json")),
        *(
            p.read_text(errors="replace")
            for p in (tmp_path / "results").rglob("*")
            if p.is_file() and p.suffix != ".png"
        ),
        *(p.read_text(errors="replace") for p in (tmp_path / "state").rglob("*") if p.is_file()),
        "".join(capfd.readouterr()),
    ]
    assert all(SECRET not in text for text in searched)
