"""The per-model quality report: schema validity and concept P/R/F1 against the references."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

from kg_pipeline.baseline import Baseline
from kg_pipeline.documents import Document
from kg_pipeline.extraction import ChunkExtraction, ExtractionStatus
from kg_pipeline.quality.concepts import PRF, merge_concepts, score_concepts


class DocumentScore(BaseModel):
    document_id: str
    category: str
    chunks: int
    valid_chunks: int
    true_positives: int
    predicted: int
    reference: int

    @property
    def prf(self) -> PRF:
        return PRF(self.true_positives, self.predicted, self.reference)


class QualityReport(BaseModel):
    endpoint: str
    model: str
    measured_against: str
    prompt_versions: list[str]
    chunks: int
    valid_chunks: int
    status_counts: dict[str, int]
    seconds_per_chunk_mean: float | None
    completion_tokens_mean: float | None
    documents: list[DocumentScore]
    unscored_documents: list[str]  # no reference extraction to compare with

    @property
    def schema_valid_rate(self) -> float:
        return self.valid_chunks / self.chunks if self.chunks else 0.0

    @property
    def micro(self) -> PRF:
        total = PRF(0, 0, 0)
        for doc in self.documents:
            total = total + doc.prf
        return total

    @property
    def macro_f1(self) -> float:
        return statistics.fmean(d.prf.f1 for d in self.documents) if self.documents else 0.0


def build_quality_report(
    documents: Sequence[Document], records: Sequence[ChunkExtraction], baseline: Baseline
) -> QualityReport:
    """Score one endpoint's records against the baseline. A document's predicted concepts are the
    union over its chunks, merged by normalised label; failed chunks contribute nothing (and so
    cost recall)."""
    if not records:
        raise ValueError("no extraction records to score; materialize `extractions` first")
    by_document: dict[str, list[ChunkExtraction]] = defaultdict(list)
    for record in records:
        by_document[record.document_id].append(record)
    scores: list[DocumentScore] = []
    unscored: list[str] = []
    for document in documents:
        doc_records = by_document.get(document.document_id)
        if not doc_records:
            continue
        reference = baseline.references.get(document.document_id)
        if reference is None:
            unscored.append(document.document_id)
            continue
        predicted = merge_concepts(
            [c for r in doc_records if r.extraction for c in r.extraction.concepts]
        )
        prf = score_concepts(predicted, reference.concepts)
        scores.append(
            DocumentScore(
                document_id=document.document_id,
                category=document.category,
                chunks=len(doc_records),
                valid_chunks=sum(r.status is ExtractionStatus.VALID for r in doc_records),
                true_positives=prf.true_positives,
                predicted=prf.predicted,
                reference=prf.reference,
            )
        )
    seconds = [r.stats.wall_seconds for r in records if r.stats]
    tokens = [r.stats.completion_tokens for r in records if r.stats and r.stats.completion_tokens]
    status_counts: dict[str, int] = defaultdict(int)
    for record in records:
        status_counts[record.status.value] += 1
    return QualityReport(
        endpoint=records[0].endpoint,
        model=records[0].model,
        measured_against=baseline.description,
        prompt_versions=sorted({r.prompt_version for r in records}),
        chunks=len(records),
        valid_chunks=status_counts[ExtractionStatus.VALID.value],
        status_counts=dict(status_counts),
        seconds_per_chunk_mean=statistics.fmean(seconds) if seconds else None,
        completion_tokens_mean=statistics.fmean(tokens) if tokens else None,
        documents=scores,
        unscored_documents=unscored,
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_markdown(report: QualityReport) -> str:
    micro = report.micro
    lines = [
        f"### {report.model} ({report.endpoint})",
        "",
        f"Measured against: {report.measured_against}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| chunks | {report.chunks} |",
        f"| schema-valid JSON rate | {_fmt(report.schema_valid_rate)} |",
        f"| failures by kind | {_failures(report)} |",
        f"| concept precision (micro) | {_fmt(micro.precision)} |",
        f"| concept recall (micro) | {_fmt(micro.recall)} |",
        f"| concept F1 (micro) | {_fmt(micro.f1)} |",
        f"| concept F1 (macro over documents) | {_fmt(report.macro_f1)} |",
        f"| seconds per chunk (mean) | {_fmt(report.seconds_per_chunk_mean, 1)} |",
        f"| output tokens per chunk (mean) | {_fmt(report.completion_tokens_mean, 0)} |",
        f"| prompt version | {', '.join(report.prompt_versions)} |",
        "",
        "| document | chunks valid | matched / predicted / reference | P | R | F1 |",
        "|---|---|---|---|---|---|",
    ]
    for doc in report.documents:
        prf = doc.prf
        lines.append(
            f"| {doc.document_id} | {doc.valid_chunks}/{doc.chunks} | "
            f"{doc.true_positives} / {doc.predicted} / {doc.reference} | "
            f"{_fmt(prf.precision)} | {_fmt(prf.recall)} | {_fmt(prf.f1)} |"
        )
    if report.unscored_documents:
        lines += ["", f"Not scored (no reference): {', '.join(report.unscored_documents)}"]
    return "\n".join(lines) + "\n"


def _failures(report: QualityReport) -> str:
    failed = {k: v for k, v in report.status_counts.items() if k != ExtractionStatus.VALID.value}
    return ", ".join(f"{k} {v}" for k, v in sorted(failed.items())) or "none"
