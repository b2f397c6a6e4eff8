"""`quality_report` after an extraction run in which a chunk went unanswered: made alone, later,
from the records file that run wrote, it states its coverage and does not count the outage as
invalid JSON. The model server is a loopback server of this test's own that answers every chunk
but one: the document about tea gets 503 while the test says the server is down for it."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from kg_pipeline.definitions import baseline, chunks, documents, extractions, quality_report
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from kg_pipeline.defs.registry import MODEL_PARTITIONS
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.quality.report import QualityReport
from tests.models import NO_CLOUD, register_model

ASSETS = [documents, chunks, extractions, baseline, quality_report]
CORPUS = {
    "crane": ("The harbour crane runs on electricity.", ["harbour crane", "electricity"]),
    "tea": ("Tea grows on the hillside.", ["tea", "hillside"]),
}


class ChunkServer:
    """OpenAI-compatible `/v1/chat/completions`: answers with the concepts of the corpus
    document whose text the prompt holds, or 503 for the documents in ``down_for``."""

    def __init__(self) -> None:
        self.down_for: set[str] = set()
        self.requests: list[str] = []  # the document each request was about
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = json.dumps(body["messages"])
                stem = next(s for s, (text, _) in CORPUS.items() if text in prompt)
                server.requests.append(stem)
                if stem in server.down_for:
                    self._send(503, {"error": "model is loading"})
                    return
                concepts = [
                    {"concept_id": f"concept_{i:03d}", "label": label, "description": "",
                     "search_terms": []}
                    for i, label in enumerate(CORPUS[stem][1], start=1)
                ]  # fmt: skip
                content = json.dumps({"concepts": concepts, "instances": [], "relationships": []})
                self._send(200, {
                    "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 500, "completion_tokens": 40},
                })  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "ChunkServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChunkServer]:
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    for stem, (text, labels) in CORPUS.items():
        (corpus / f"{stem}.md").write_text(text, encoding="utf-8")
        reference = {
            "concepts": [{"concept_id": f"r{i}", "label": label, "description": "",
                          "search_terms": []} for i, label in enumerate(labels)],
            "instances": [], "relationships": [],
        }  # fmt: skip
        (corpus / f"{stem}.reference.json").write_text(json.dumps(reference), encoding="utf-8")
    with ChunkServer() as running:
        # No retries: one request per chunk, so the requests below count chunks.
        register_model("gpu0", running.base_url, model="small", max_retries=0)
        yield running


def materialize(
    instance: dg.DagsterInstance, tmp_path: Path, selection: list[dg.AssetsDefinition]
) -> dg.ExecuteInProcessResult:
    # The response cache off: the second extraction run must ask the server again.
    configs: dict[str, Any] = {
        "documents": DocumentsConfig(corpus_dir=str(tmp_path / "corpus")),
        "extractions": ExtractionsConfig(use_cache=False),
    }
    return dg.materialize(
        ASSETS,
        selection=selection,
        partition_key="gpu0" if any(a.partitions_def for a in selection) else None,
        instance=instance,
        resources={"model_registry": ModelRegistry(), "cloud_baseline": NO_CLOUD},
        run_config=dg.RunConfig(
            ops={
                name: config
                for name, config in configs.items()
                if any(a.key.path[0] == name for a in selection)
            }
        ),
        raise_on_error=False,
    )


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_report_made_after_an_outage_states_its_coverage_and_keeps_json_validity_apart(
    server: ChunkServer, tmp_path: Path, dagster_instance: dg.DagsterInstance
) -> None:
    dagster_instance.add_dynamic_partitions(MODEL_PARTITIONS, ["gpu0"])
    whole = materialize(dagster_instance, tmp_path, ASSETS)
    assert whole.success
    complete: QualityReport = whole.output_for_node("quality_report")
    assert complete.coverage_statement == "covers 2 of 2 chunks"
    assert checks(whole)["coverage_check"].passed

    # The server goes down for the tea document; extraction runs again, alone. Whether the step
    # ends failed (a chunk went unanswered) or not, it writes every record first.
    server.down_for.add("tea")
    server.requests.clear()
    materialize(dagster_instance, tmp_path, [extractions])
    assert sorted(server.requests) == ["crane", "tea"]  # one request per chunk, no retry

    # The report, made alone later, reads that run's records.
    later = materialize(dagster_instance, tmp_path, [quality_report])
    assert later.success
    report: QualityReport = later.output_for_node("quality_report")
    # 2 chunks, tea's unanswered: 1 answered, and schema-valid (1/1 = 1.0, not 1/2 = 0.5)
    assert report.schema_valid_rate == 1.0
    assert (report.validity.answered, report.validity.unavailable) == (1, 1)
    statement = report.coverage_statement
    assert statement.startswith("covers 1 of 2 chunks (1 unavailable: ") and "503" in statement
    # Concepts: crane's 2 of 2 found, tea's 2 missed: recall 2/4, the coverage beside it
    assert report.micro().recall == 0.5

    metadata = later.asset_materializations_for_node("quality_report")[0].metadata
    assert metadata["coverage"].value == statement
    assert metadata["schema_valid_rate"].value == 1.0
    assert (metadata["chunks_answered"].value, metadata["chunks_unavailable"].value) == (1, 1)
    evaluations = checks(later)
    assert not evaluations["coverage_check"].passed
    assert evaluations["coverage_check"].severity == dg.AssetCheckSeverity.ERROR
    assert evaluations["schema_valid_check"].passed  # an outage is not bad JSON
    assert evaluations["concept_f1_check"].metadata["coverage"].value == statement

    markdown = (tmp_path / "results" / "quality" / "gpu0.md").read_text()
    assert f"**Incomplete: this report {statement}.**" in markdown
    assert "| schema-valid JSON rate (of chunks answered) | 1.000 (1/1) |" in markdown
    stored = json.loads((tmp_path / "results" / "quality" / "gpu0.json").read_text())
    assert stored["coverage_statement"] == statement


def test_a_report_without_any_records_file_says_what_to_run(
    server: ChunkServer, tmp_path: Path, dagster_instance: dg.DagsterInstance
) -> None:
    dagster_instance.add_dynamic_partitions(MODEL_PARTITIONS, ["gpu0"])
    upstream = materialize(dagster_instance, tmp_path, [documents, chunks, baseline])
    assert upstream.success
    result = materialize(dagster_instance, tmp_path, [quality_report])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    assert error is not None
    assert "no extraction records for 'gpu0' in " in error.message
    assert "materialize `extractions` for this partition first (`kg run --model gpu0`)" in (
        error.message
    )
    assert server.requests == []
