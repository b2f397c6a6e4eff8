"""`check_severity: ERROR` makes a missed acceptance criterion stop the assets downstream of
`quality_report`; the default, WARN, records the miss and lets them run. The model server is a
loopback server that answers every chunk with an empty extraction, so concept F1 against the
one curated reference is 0 and `concept_f1_check` fails whatever the severity."""

import json
from pathlib import Path
from typing import Literal

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
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.quality import QualityReportConfig
from kg_pipeline.defs.registry import MODEL_PARTITIONS
from kg_pipeline.defs.resources import ModelRegistry
from tests.models import NO_CLOUD, register_model
from tests.outage_server import OutageServer

Severity = Literal["WARN", "ERROR"]
ASSETS = [documents, chunks, extractions, baseline, quality_report, model_comparison]
REFERENCE = {
    "concepts": [{"concept_id": "r1", "label": "canal lock", "description": "",
                  "search_terms": []}],
    "instances": [], "relationships": [],
}  # fmt: skip


def materialize(
    instance: dg.DagsterInstance, corpus: Path, severity: Severity
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        partition_key="gpu0",
        instance=instance,
        resources={"model_registry": ModelRegistry(), "cloud_baseline": NO_CLOUD},
        run_config=dg.RunConfig(
            ops={
                "documents": DocumentsConfig(corpus_dir=str(corpus)),
                "quality_report": QualityReportConfig(check_severity=severity),
            }
        ),
        raise_on_error=False,
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.is_step_materialization and e.asset_key is not None
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus" / "notes"
    folder.mkdir(parents=True)
    (folder / "lock.md").write_text("The canal lock raises boats.", encoding="utf-8")
    (folder / "lock.reference.json").write_text(json.dumps(REFERENCE), encoding="utf-8")
    return tmp_path / "corpus"


@pytest.mark.parametrize(
    ("severity", "blocked"), [("WARN", False), ("ERROR", True)], ids=["warn", "error"]
)
def test_a_missed_criterion_stops_downstream_assets_only_at_error_severity(
    severity: Severity,
    blocked: bool,
    corpus: Path,
    tmp_path: Path,
    dagster_instance: dg.DagsterInstance,
) -> None:
    dagster_instance.add_dynamic_partitions(MODEL_PARTITIONS, ["gpu0"])
    with OutageServer() as server:
        register_model("gpu0", server.base_url, max_retries=0)
        result = materialize(dagster_instance, corpus, severity)

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    concept = evaluations["concept_f1_check"]
    assert not concept.passed and concept.severity == dg.AssetCheckSeverity(severity)
    assert concept.blocking
    assert evaluations["coverage_check"].passed and not evaluations["coverage_check"].blocking
    # The report is stored either way: a blocked run still shows what failed and by how much.
    assert "quality_report" in materialized(result)
    assert (tmp_path / "results" / "quality" / "gpu0.json").exists()
    assert result.success is not blocked
    assert ("model_comparison" in materialized(result)) is not blocked
    if blocked:
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert failure.step_key == "quality_report"
        error = failure.step_failure_data.error
        assert error is not None and "concept_f1_check" in error.message


def test_only_the_acceptance_criteria_are_declared_blocking() -> None:
    # coverage_check is ERROR whatever check_severity says: blocking, it would block by default.
    specs = {spec.name: spec.blocking for spec in quality_report.check_specs}
    assert specs == {
        "coverage_check": False,
        "schema_valid_check": True,
        "concept_f1_check": True,
        "relationship_type_accuracy_check": True,
        "quote_error_check": True,
    }
