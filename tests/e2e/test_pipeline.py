"""documents -> chunks -> extractions -> quality_report inside Dagster, with the real embedded model
on one real chunk."""

import json
from pathlib import Path

import dagster as dg
import pytest

from kg_pipeline.definitions import baseline, chunks, documents, extractions, quality_report
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from kg_pipeline.extraction.records import ChunkExtraction
from kg_pipeline.quality.concepts import MatchLevel
from kg_pipeline.quality.report import QualityReport
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.serving.local_model import MODEL_ALIAS
from kg_pipeline.serving.local_server import LocalServer
from tests.models import materialize_partition, register_model

TEXT = (
    "A volcano is an opening in the crust of a planet. Magma rises through the volcano and "
    "erupts as lava."
)
REFERENCE = {
    "concepts": [
        {"concept_id": "concept_001", "label": "volcano", "description": "An opening in a "
         "planet's crust.", "search_terms": ["volcanoes"]},
        {"concept_id": "concept_002", "label": "magma", "description": "Molten rock below the "
         "surface.", "search_terms": []},
        {"concept_id": "concept_003", "label": "lava", "description": "Erupted magma.",
         "search_terms": []},
    ],
    "instances": [{"concept_id": "concept_001", "quote": "A volcano is an opening"}],
    "relationships": [],
}  # fmt: skip


@pytest.mark.real_model
def test_pipeline_materializes_end_to_end_with_the_embedded_model(
    embedded_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus" / "science"
    corpus.mkdir(parents=True)
    (corpus / "volcano.md").write_text(TEXT, encoding="utf-8")
    (corpus / "volcano.reference.json").write_text(json.dumps(REFERENCE), encoding="utf-8")
    (corpus / "empty.md").write_text("", encoding="utf-8")  # rejected, the run goes on
    monkeypatch.setenv("KG_RESULTS_DIR", str(tmp_path / "results"))
    register_model(
        DEFAULT_ENDPOINT.name,
        embedded_server.base_url,
        model=MODEL_ALIAS,
        provider="llamacpp",
        max_concurrent_requests=1,
        options={"timeout_seconds": 600},
    )

    # No OPENAI_API_KEY here: the baseline falls back to the curated references.
    result = materialize_partition(
        [documents, chunks, extractions, baseline, quality_report],
        DEFAULT_ENDPOINT.name,
        run_config=dg.RunConfig(
            ops={
                "documents": DocumentsConfig(corpus_dir=str(tmp_path / "corpus")),
                "extractions": ExtractionsConfig(max_chunks=1),
            }
        ),
    )

    assert result.success
    docs = result.output_for_node("documents")
    assert [d.document_id for d in docs] == ["science/volcano"]
    doc_meta = result.asset_materializations_for_node("documents")[0].metadata
    assert doc_meta["rejected"].value == 1
    assert "science/empty.md" in doc_meta["rejected_files"].value

    records: list[ChunkExtraction] = result.output_for_node("extractions")
    assert len(records) == 1
    record = records[0]
    assert record.status.value == "valid", record.error
    assert record.extraction is not None and record.extraction.concepts
    assert record.model == MODEL_ALIAS and record.prompt_version == "kg-extract-v1"
    assert record.stats is not None and record.stats.completion_tokens

    report: QualityReport = result.output_for_node("quality_report")
    assert report.schema_valid_rate == 1.0
    assert report.documents[0].concepts[MatchLevel.EXACT].reference == 3
    assert 0.0 <= report.micro().f1 <= 1.0
    assert report.measured_against.startswith("curated references")
    report_file = tmp_path / "results" / "quality" / f"{DEFAULT_ENDPOINT.name}.md"
    assert "concept P / R / F1 (exact, micro)" in report_file.read_text()
    stored = (tmp_path / "results" / "extractions" / f"{DEFAULT_ENDPOINT.name}.jsonl").read_text()
    assert len(stored.splitlines()) == 1
