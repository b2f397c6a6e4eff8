"""The per-document figures the Re-DocRED side script gives each arm (seconds, calls, output
tokens, runaway calls, documents answered in full, duplicates), counted from a run's records and
its merged documents, and shown in the report. Every figure is worked out beside it."""

import pytest

from kg_pipeline.contract.reference import Reference
from kg_pipeline.contract.schema import Concept, Extraction
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import curated_baseline
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.providers import CallStats
from kg_pipeline.quality.headline import headline_markdown, summary_metrics
from kg_pipeline.quality.report import QualityReport, build_quality_report
from kg_pipeline.quality.report_markdown import render_markdown
from kg_pipeline.quality.run_counts import RunCounts


def concept(label: str, cid: str) -> Concept:
    return Concept(concept_id=cid, label=label, description="", search_terms=[])


def record(
    chunk: str,
    document: str,
    status: ExtractionStatus,
    stats: CallStats | None,
    labels: tuple[str, ...] = (),
) -> ChunkExtraction:
    extraction = (
        Extraction(concepts=[concept(label, f"c{i}") for i, label in enumerate(labels)])
        if status is ExtractionStatus.VALID
        else None
    )
    return ChunkExtraction(
        chunk_id=chunk, document_id=document, endpoint="gpu0", provider="vllm", model="m",
        vocabulary="base31", status=status, extraction=extraction, stats=stats,
    )  # fmt: skip


def document(doc_id: str, labels: tuple[str, ...]) -> Document:
    return Document(
        document_id=doc_id, category="a", path=f"{doc_id}.md", text="", sha256="0",
        reference=Reference(concepts=[concept(label, f"r{i}") for i, label in enumerate(labels)]),
    )  # fmt: skip


DOCS = [document("a/one", ("oven", "flour")), document("a/two", ("salt",))]
RECORDS = [
    # a/one: two chunks, both valid; "Oven" in both, merged into one concept.
    record("a/one#0", "a/one", ExtractionStatus.VALID,
           CallStats(wall_seconds=10.0, completion_tokens=300, attempts=2), ("oven", "flour")),
    record("a/one#1", "a/one", ExtractionStatus.VALID,
           CallStats(wall_seconds=6.0, completion_tokens=100, reasks=1, cached=True), ("Oven",)),
    # a/two: one answer stopped at the output budget (no extraction), one never answered.
    record("a/two#0", "a/two", ExtractionStatus.TRUNCATED,
           CallStats(wall_seconds=20.0, completion_tokens=4096, finish_reason="length")),
    record("a/two#1", "a/two", ExtractionStatus.UNAVAILABLE, None),
]  # fmt: skip


def report() -> QualityReport:
    return build_quality_report(DOCS, [], RECORDS, curated_baseline(DOCS), BASE_VOCABULARY)


def test_per_document_figures_are_counted_as_the_side_script_counts_them() -> None:
    counts = report().run_counts
    assert counts is not None
    # 2 documents, 4 chunks; only a/one has every chunk valid.
    assert (counts.documents, counts.chunks, counts.valid_documents) == (2, 4, 1)
    # calls: (2 attempts + 0) + (1 + 1 re-ask) + (1 + 0) = 5; the unavailable chunk has no stats.
    assert counts.calls == 5
    assert counts.calls_per_document == pytest.approx(2.5)
    # seconds of the answered chunks: 10 + 6 + 20 = 36 over 2 documents = 18 each.
    assert counts.seconds_per_document == pytest.approx(18.0)
    # tokens: 300 + 100 + 4096 = 4496 over 2 documents = 2248; the longest answer 4096.
    assert counts.completion_tokens_per_document == pytest.approx(2248.0)
    assert counts.completion_tokens_max == 4096
    assert (counts.runaway_calls, counts.cached_chunks) == (1, 1)
    # 3 concepts listed (oven, flour; Oven), 2 after the merge: 1 - 2/3.
    assert (counts.concepts_listed, counts.concepts_merged) == (3, 2)
    assert counts.duplicate_rate == pytest.approx(1 / 3)


def test_the_figures_stand_in_the_markdown_the_metadata_and_the_headline() -> None:
    scored = report()
    markdown = render_markdown(scored)
    assert "| seconds per document (its chunks' model calls, summed) | 18.0 |" in markdown
    assert "| model calls per document (attempts and re-asks) | 2.50 |" in markdown
    assert "| output tokens per document (mean); longest chunk answer | 2248; 4096 |" in markdown
    assert "| calls stopped at the output budget (runaway) | 1 of 4 chunks |" in markdown
    assert "| documents with every chunk schema-valid | 0.500 (1/2) |" in markdown
    assert (
        "| concepts folded by the merge (duplicate rate) | 0.333 (3 listed, 2 kept) |" in markdown
    )
    metrics = summary_metrics(scored)
    assert (metrics["calls_per_document"], metrics["runaway_calls"]) == (2.5, 1)
    headline = headline_markdown(scored)
    # Entities: oven, flour found of oven, flour, salt: P 2/2, R 2/3, F1 0.8.
    assert "| entity P / R / F1 (exact) | 1.000 / 0.667 / 0.800 |" in headline
    assert "| runaway calls (stopped at the output budget) | 1 |" in headline
    assert "| chunks answered from the response cache | 1 of 4 |" in headline


def test_a_report_written_before_the_counts_loads_and_shows_none_of_them() -> None:
    old = report().model_dump(mode="json", exclude={"run_counts"})
    back = QualityReport.model_validate(old)
    assert back.run_counts is None
    assert "seconds per document" not in render_markdown(back)
    assert "calls_per_document" not in summary_metrics(back)


def test_nothing_answered_gives_no_rate() -> None:
    counts = RunCounts.of([], [])
    assert counts.seconds_per_document is None
    assert counts.completion_tokens_max is None
    assert counts.duplicate_rate is None
