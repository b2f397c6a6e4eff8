"""The baseline asset and the quality report against it, with loopback servers standing in for
the cloud model and a local server (no real model: the wiring and the arithmetic are under test)."""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from kg_pipeline.definitions import (
    baseline,
    chunks,
    documents,
    extractions,
    model_comparison,
    quality_report,
)
from kg_pipeline.defs.assets.baseline import BaselineConfig
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.resources import ModelEndpoint
from kg_pipeline.extraction.baseline import Baseline
from kg_pipeline.quality.report import QualityReport
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from tests.models import materialize_partition, register_model
from tests.stand_in_server import Reply, StandInServer

TEXT = "The harbour crane lifts containers. The crane runs on electricity."


def answer(*labels: str) -> Reply:
    concepts = [
        {"concept_id": f"concept_{i:03d}", "label": label, "description": "", "search_terms": []}
        for i, label in enumerate(labels, start=1)
    ]
    content = json.dumps({"concepts": concepts, "instances": [], "relationships": []})
    return Reply(
        body={
            "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 60},
        }
    )


def run(
    tmp_path: Path,
    local: StandInServer,
    cloud: StandInServer,
    config: BaselineConfig,
    key: Any,
    max_retries: int = 3,
) -> dg.ExecuteInProcessResult:
    corpus = tmp_path / "corpus" / "ports"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "crane.md").write_text(TEXT, encoding="utf-8")
    register_model(DEFAULT_ENDPOINT.name, local.base_url, model="small")
    cloud_endpoint = ModelEndpoint(
        name="cloud-baseline", provider="openai", base_url=cloud.base_url, model="gpt-4o",
        api_key=key, max_retries=max_retries,
    )  # fmt: skip
    return materialize_partition(
        [documents, chunks, extractions, baseline, quality_report],
        DEFAULT_ENDPOINT.name,
        cloud=cloud_endpoint,
        raise_on_error=False,
        run_config=dg.RunConfig(
            ops={
                "documents": DocumentsConfig(corpus_dir=str(tmp_path / "corpus")),
                "baseline": config,
            }
        ),
    )


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("KG_RESULTS_DIR", str(tmp_path / "results"))
    with StandInServer() as local, StandInServer() as cloud:
        local.reply("POST", "/v1/chat/completions", answer("harbour crane", "electricity"))
        cloud.reply(
            "POST", "/v1/chat/completions", answer("harbour crane", "container", "electricity")
        )
        yield local, cloud


def test_with_a_key_the_cloud_model_is_recorded_and_models_are_scored_against_it(
    tmp_path: Path, servers: Any
) -> None:
    local, cloud = servers
    result = run(tmp_path, local, cloud, BaselineConfig(), key="sk-test")
    assert result.success
    recorded: Baseline = result.output_for_node("baseline")
    assert recorded.kind == "model" and recorded.recording is not None
    assert recorded.recording.version == 1 and recorded.recording.model == "gpt-4o"
    assert cloud.requests[0].headers["Authorization"] == "Bearer sk-test"
    report: QualityReport = result.output_for_node("quality_report")
    # Candidate {harbour crane, electricity} vs baseline {harbour crane, container, electricity}:
    # TP 2, P 2/2 = 1.0, R 2/3, F1 = 2*(1)(2/3)/(5/3) = 0.8.
    assert report.micro().precision == 1.0
    assert report.micro().f1 == pytest.approx(0.8)
    assert report.measured_against.startswith("gpt-4o recording v0001")
    assert (
        "sk-test"
        not in (tmp_path / "results" / "quality" / f"{DEFAULT_ENDPOINT.name}.md").read_text()
    )


def test_a_recorded_baseline_is_reused_and_never_overwritten(tmp_path: Path, servers: Any) -> None:
    local, cloud = servers
    run(tmp_path, local, cloud, BaselineConfig(), key="sk-test")
    folder = tmp_path / "results" / "baselines" / "cloud-baseline"
    first = (folder / "v0001.jsonl").read_text()
    calls = len(cloud.requests)

    again = run(tmp_path, local, cloud, BaselineConfig(), key="sk-test")
    assert again.output_for_node("baseline").recording.version == 1
    assert len(cloud.requests) == calls  # the same model, prompt and chunks: not paid for twice

    fresh = run(tmp_path, local, cloud, BaselineConfig(rerecord=True), key="sk-test")
    assert fresh.output_for_node("baseline").recording.version == 2
    assert (folder / "v0001.jsonl").read_text() == first
    assert sorted(p.name for p in folder.iterdir()) == [
        "v0001.jsonl", "v0001.meta.json", "v0002.jsonl", "v0002.meta.json",
    ]  # fmt: skip


def test_a_baseline_the_cloud_could_not_answer_is_not_recorded(
    tmp_path: Path, servers: Any
) -> None:
    local, _ = servers
    with StandInServer() as down:
        down.reply("POST", "/v1/chat/completions", Reply(500, {"error": "overloaded"}))
        result = run(tmp_path, local, down, BaselineConfig(), key="sk-test", max_retries=0)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "baseline"
    data = failure.step_failure_data
    assert data is not None and data.user_failure_data is not None
    assert (data.user_failure_data.description or "").startswith(
        "baseline gpt-4o not recorded: 1 of 1 chunks unavailable"
    )
    # Nothing stored: the next run records the baseline anew rather than reusing a hole.
    assert not (tmp_path / "results" / "baselines" / "cloud-baseline").exists()


def test_without_a_key_the_curated_references_are_the_baseline(
    tmp_path: Path, servers: Any
) -> None:
    local, cloud = servers
    result = run(tmp_path, local, cloud, BaselineConfig(), key=None)
    assert result.output_for_node("baseline").kind == "curated"
    assert cloud.requests == []


def test_any_configured_endpoint_can_be_the_reference(tmp_path: Path, servers: Any) -> None:
    local, cloud = servers
    result = run(
        tmp_path, local, cloud, BaselineConfig(reference_endpoint=DEFAULT_ENDPOINT.name), key=None
    )
    recorded: Baseline = result.output_for_node("baseline")
    assert recorded.kind == "model" and recorded.recording is not None
    assert recorded.recording.endpoint == DEFAULT_ENDPOINT.name
    # Scored against itself: every concept matches.
    assert result.output_for_node("quality_report").micro().f1 == 1.0


def test_acceptance_checks_warn_when_a_threshold_is_missed(tmp_path: Path, servers: Any) -> None:
    local, cloud = servers
    result = run(tmp_path, local, cloud, BaselineConfig(), key="sk-test")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {
        "coverage_check", "schema_valid_check", "concept_f1_check", "relationship_type_accuracy_check",
        "quote_error_check",
    }  # fmt: skip
    # The one chunk answered: the report covers the whole run.
    assert checks["coverage_check"].passed
    # Every chunk valid: 1.0 >= 0.99.
    assert checks["schema_valid_check"].passed
    # Concept F1 0.8 (see above) < 0.90: fails, as a warning.
    assert not checks["concept_f1_check"].passed
    assert checks["concept_f1_check"].severity == dg.AssetCheckSeverity.WARN
    # No relationship and no quote to measure: reported as not passed, never as a silent pass.
    assert not checks["relationship_type_accuracy_check"].passed
    assert checks["quote_error_check"].metadata["value"].value == "n/a"


def test_model_comparison_reads_the_measured_reports(tmp_path: Path, servers: Any) -> None:
    local, cloud = servers
    run(tmp_path, local, cloud, BaselineConfig(), key="sk-test")
    result = dg.materialize([model_comparison])
    rows = result.output_for_node("model_comparison")
    assert [(r.endpoint, r.pareto) for r in rows] == [(DEFAULT_ENDPOINT.name, True)]
    assert rows[0].concept_f1 == pytest.approx(0.8)
    assert "| small |" in (tmp_path / "results" / "model_comparison.md").read_text()
