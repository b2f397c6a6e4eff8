"""`quality_report` (per model endpoint, with its acceptance checks) and `model_comparison`."""

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from kg_pipeline.contract.vocabulary import (
    BASE_VOCABULARY,
    Vocabulary,
    VocabularyError,
    named_vocabulary,
    resolve_vocabulary,
)
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.corpus.documents import Document
from kg_pipeline.defs.corpus_vocabulary import run_vocabulary
from kg_pipeline.defs.extraction_run import routed_name
from kg_pipeline.defs.results_files import results_dir, write_atomically
from kg_pipeline.extraction.baseline import Baseline
from kg_pipeline.extraction.records import ChunkExtraction, RecordsFileError, read_records
from kg_pipeline.providers.embeddings import HTTPEmbedder
from kg_pipeline.quality.comparison import ModelRow, compare_models, render_comparison
from kg_pipeline.quality.estimates import Estimate
from kg_pipeline.quality.headline import summary_metrics
from kg_pipeline.quality.plots import plot_f1_by_category, plot_reliability
from kg_pipeline.quality.report import QualityReport, build_quality_report
from kg_pipeline.quality.report_markdown import render_markdown


class QualityReportConfig(dg.Config):
    vocabulary: str | None = Field(
        default=None,
        description="The vocabulary the extractions were made with (name or file); default: the "
        "one named in the extraction records.",
    )
    embedding_base_url: str | None = Field(
        default=None,
        description="Embedding server for embedding-level concept matching (off when unset).",
    )
    embedding_model: str = Field(default="nomic-embed-text", description="Embedding model name.")
    embedding_api: Literal["ollama", "openai"] = Field(
        default="openai", description="ollama: /api/embed; openai: /v1/embeddings."
    )
    # The acceptance criteria of the plan this project carries out; a miss warns by default.
    min_schema_valid_rate: float = Field(default=0.99, ge=0, le=1)
    min_concept_f1: float = Field(default=0.90, ge=0, le=1)
    min_relationship_type_accuracy: float = Field(default=0.90, ge=0, le=1)
    max_quote_error_rate: float = Field(default=0.05, ge=0, le=1)
    check_severity: Literal["WARN", "ERROR"] = Field(
        default="WARN",
        description="WARN: a missed criterion is recorded and the run goes on. ERROR: it fails "
        "this step after the report is stored, and the assets downstream do not run.",
    )


QUALITY_CHECKS = {
    "coverage_check": "Every chunk of the extraction run was answered (none unavailable: server "
    "unreachable or timed out); the other figures cover only the answered chunks.",
    "schema_valid_check": "Share of the chunks the model answered with schema-valid JSON >= "
    "min_schema_valid_rate.",
    "concept_f1_check": "Concept F1 (most lenient match level) against the baseline >= "
    "min_concept_f1.",
    "relationship_type_accuracy_check": "Share of endpoint-matched relationships with the "
    "baseline's type >= min_relationship_type_accuracy (count and bootstrap interval beside it).",
    "quote_error_check": "Share of the model's own quotes (before grounding) found in their chunk "
    "in no form, even normalised, < max_quote_error_rate. Grounded quotes are verbatim by "
    "construction, so the check judges the model.",
}


# Dagster fixes a check's blocking at definition time (it belongs to the check's spec), while
# check_severity is chosen per run; and a blocking check stops downstream assets only when it
# fails at ERROR severity (a WARN failure is recorded and the run goes on). So the acceptance
# checks are all declared blocking and check_severity decides, run by run, what a miss does:
# WARN (the default) records it and lets everything downstream run, ERROR fails the
# quality_report step once the report is stored and its checks recorded, so the assets
# downstream (model_comparison) do not run and a scheduled run ends failed.
# coverage_check is ERROR whatever check_severity says; declared blocking it would block under
# the default too, so it is not: an extraction run with unanswered chunks already fails in
# `extractions`, and a report made alone afterwards must still be stored and read.
BLOCKING_CHECKS = frozenset(QUALITY_CHECKS) - {"coverage_check"}


def quality_check_specs() -> list[dg.AssetCheckSpec]:
    """The checks `quality_report` declares; the acceptance criteria blocking (see above)."""
    return [
        dg.AssetCheckSpec(
            name,
            asset="quality_report",
            description=description,
            blocking=name in BLOCKING_CHECKS,
        )
        for name, description in QUALITY_CHECKS.items()
    ]


def estimate_metadata(estimate: Estimate) -> dict[str, str | int]:
    """The count and interval a check's value stands on, "n/a (n = 0)" when on nothing."""
    interval = estimate.interval
    return {
        "figure": estimate.describe(),
        "n": estimate.n,
        "interval_95": f"{interval[0]:.3f} to {interval[1]:.3f}" if interval else "n/a",
    }


def coverage_check_result(report: QualityReport) -> dg.AssetCheckResult:
    """Fails, at ERROR severity whatever ``check_severity`` says, when any chunk went unanswered.

    A check of its own rather than a lower schema-valid rate: an outage is not bad JSON, and
    folding one into the other hid which of the two a user had to fix (the server, or the
    model and its prompt). ERROR because it is not a quality bar a team may choose to relax:
    the report simply does not cover the whole run, whatever its other figures say."""
    coverage = report.coverage
    causes = coverage.causes if coverage is not None else []
    return dg.AssetCheckResult(
        check_name="coverage_check",
        asset_key="quality_report",
        passed=coverage is not None and coverage.complete,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "coverage": report.coverage_statement,
            "chunks": coverage.chunks if coverage is not None else report.validity.chunks,
            "chunks_unavailable": coverage.unavailable if coverage is not None else 0,
            "causes": dg.MetadataValue.json(causes),
        },
    )


def quality_check_results(
    report: QualityReport, config: QualityReportConfig
) -> Iterator[dg.AssetCheckResult]:
    """The coverage check, then each acceptance criterion with the coverage beside its value:
    a concept F1 measured on half the chunks reads differently from one measured on all."""
    yield coverage_check_result(report)
    severity = dg.AssetCheckSeverity(config.check_severity)
    figures = report.figures
    type_accuracy = figures["relationship_type_accuracy"]
    model_quote_errors = figures["model_quote_error_rate"]  # grounded quotes: verbatim anyway
    top = report.top_level
    measured = {
        "schema_valid_check": (report.schema_valid_rate, config.min_schema_valid_rate, ">="),
        "concept_f1_check": (report.micro(top).f1, config.min_concept_f1, ">="),
        "relationship_type_accuracy_check": (
            type_accuracy.value,
            config.min_relationship_type_accuracy,
            ">=",
        ),
        "quote_error_check": (model_quote_errors.value, config.max_quote_error_rate, "<"),
    }
    grounded_errors = figures["quote_error_rate"]
    details: dict[str, dict[str, str | int]] = {
        # "0.950 (19/20)": the rate with the answered chunks it is taken over.
        "schema_valid_check": {"schema_valid": report.validity.schema_valid_share},
        "relationship_type_accuracy_check": estimate_metadata(type_accuracy),
        "quote_error_check": {
            **estimate_metadata(model_quote_errors),
            "judged": "the model's own quotes, before grounding",
            "grounded_output_error_rate": grounded_errors.describe(),
        },
    }
    for name, (value, threshold, relation) in measured.items():
        # Nothing to measure (no chunk answered, no relationship matched, no quote given).
        if value is None:
            passed = False
        else:
            passed = value >= threshold if relation == ">=" else value < threshold
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key="quality_report",
            passed=passed,
            severity=severity,
            metadata={
                "value": value if value is not None else "n/a",
                "threshold": f"{relation} {threshold}",
                "measured_against": report.measured_against,
                "coverage": report.coverage_statement,
                **details.get(name, {}),
            },
        )


def _report_vocabulary(
    context: dg.AssetExecutionContext, config: QualityReportConfig, records: list[ChunkExtraction]
) -> Vocabulary:
    if config.vocabulary:
        return resolve_vocabulary(config.vocabulary)
    name = records[0].vocabulary if records else BASE_VOCABULARY.name
    # The corpus's own vocabulary file, when the extractions were made with it (a file is not
    # found by its name alone).
    corpus_own = run_vocabulary(context, None)
    if corpus_own:
        vocabulary = resolve_vocabulary(corpus_own)
        if vocabulary.name == name:
            return vocabulary
    try:
        return named_vocabulary(name)
    except VocabularyError:
        context.log.warning(
            f"extractions used vocabulary {name!r}, which is not packaged; set "
            "quality_report.vocabulary to count off-vocabulary types against it"
        )
        return BASE_VOCABULARY


def latest_records_file(partition: str) -> Path:
    """The records file of the partition's latest extraction run: its model's own run or its
    routed run (results/extractions/), whichever was written last."""
    folder = results_dir() / "extractions"
    written = [
        path
        for path in (folder / f"{partition}.jsonl", folder / f"{routed_name(partition)}.jsonl")
        if path.exists()
    ]
    if not written:
        raise dg.Failure(
            f"no extraction records for {partition!r} in {folder}; materialize `extractions` "
            f"for this partition first (`kg run --model {partition}`)"
        )
    return max(written, key=lambda path: path.stat().st_mtime_ns)


def build_quality_report_asset(models: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """`quality_report`, partitioned like `extractions`.

    The records are read from the file `extractions` writes, not handed over as its output:
    `extractions` fails a run in which any chunk went unanswered, after writing every record,
    and a failed step stores no output, so an input would load the last *successful* run's
    records, a report on data that is no longer current. From the file, the report can be
    materialized alone after such a run, and states its coverage."""

    @dg.asset(
        group_name="evaluate",
        partitions_def=models,
        deps=["extractions"],
        kinds={"python"},
        check_specs=quality_check_specs(),
    )
    def quality_report(
        context: dg.AssetExecutionContext,
        config: QualityReportConfig,
        documents: list[Document],
        chunks: list[Chunk],
        baseline: Baseline,
    ) -> Iterator[dg.Output[QualityReport] | dg.AssetCheckResult]:
        """This model against the baseline (curated references or a recorded model): the
        coverage of the latest extraction run (chunks answered, and why others were not), JSON
        validity of the answered chunks, concept P/R/F1 at the exact and fuzzy levels with
        bootstrap intervals, relationship P/R/F1 and type accuracy, quote precision and
        hallucinations of the model's own answers beside the grounded output's, calibration
        where the prompt asks for confidences, every rate with its count and interval; per
        document, category and corpus (definitions in kg_pipeline/quality/)."""
        records_file = latest_records_file(context.partition_key)
        try:
            extractions = read_records(records_file)
        except RecordsFileError as exc:
            raise dg.Failure(f"{exc}; materialize `extractions` again to rewrite the file") from exc
        context.log.info(f"scoring {len(extractions)} records from {records_file}")
        vocabulary = _report_vocabulary(context, config, extractions)
        embedder = (
            HTTPEmbedder(config.embedding_base_url, config.embedding_model, config.embedding_api)
            if config.embedding_base_url
            else None
        )
        try:
            report = build_quality_report(
                documents, chunks, extractions, baseline, vocabulary, embedder
            )
        finally:
            if embedder is not None:
                embedder.close()
        stem = context.partition_key
        if report.routed:
            # Kept apart from the model's own single-model report, so model_comparison lists
            # both and a routed run can be compared with each model alone on the same corpus.
            stem = routed_name(context.partition_key)
            models = ", ".join(m for m in report.by_model() if m != "mixed")
            report = report.model_copy(update={"endpoint": stem, "model": f"routed: {models}"})
        markdown = render_markdown(report)
        out = results_dir() / "quality" / f"{stem}.md"
        write_atomically(out, markdown)
        write_atomically(out.with_suffix(".json"), report.model_dump_json())
        by_category = plot_f1_by_category(report, out.with_suffix(".f1_by_category.png"))
        plots = {"f1_by_category_plot": dg.MetadataValue.path(str(by_category))}
        calibration = out.with_suffix(".calibration.png")
        if report.asks_confidence:
            plots["calibration_plot"] = dg.MetadataValue.path(
                str(plot_reliability(report, calibration))
            )
        else:
            # A prompt that asks no confidence has no calibration to plot; one left by an
            # earlier run with a prompt that asked would read as this run's.
            calibration.unlink(missing_ok=True)
        if report.coverage is not None and not report.coverage.complete:
            context.log.warning(f"quality report for {stem} {report.coverage_statement}")
        yield dg.Output(
            report,
            metadata={
                "coverage": report.coverage_statement,
                "chunks": report.validity.chunks,
                "chunks_answered": report.validity.answered,
                "chunks_unavailable": report.validity.unavailable,
                "report": dg.MetadataValue.md(markdown),
                **plots,
                **summary_metrics(report),
                "concept_precision_exact": report.micro().precision,
                "concept_recall_exact": report.micro().recall,
                "concept_f1_exact_macro": report.macro_f1(),
                "documents_scored": len(report.documents),
                "measured_against": report.measured_against,
                "report_file": dg.MetadataValue.path(str(out)),
                "records_file": dg.MetadataValue.path(str(records_file)),
            },
        )
        yield from quality_check_results(report, config)

    return quality_report


@dg.asset(group_name="evaluate", kinds={"python"}, deps=["quality_report"])
def model_comparison(context: dg.AssetExecutionContext) -> list[ModelRow]:
    """Quality against speed for every model with a measured quality report (results/quality/);
    models on the quality/speed frontier are the ones worth choosing between."""
    reports = [
        QualityReport.model_validate_json(path.read_text(encoding="utf-8"))
        for path in sorted((results_dir() / "quality").glob("*.json"))
    ]
    if not reports:
        raise dg.Failure("no quality report measured yet; materialize quality_report first")
    rows = compare_models(reports)
    markdown = render_comparison(rows)
    out = results_dir() / "model_comparison.md"
    write_atomically(out, markdown)
    context.add_output_metadata(
        {
            "comparison": dg.MetadataValue.md(markdown),
            "models": len(rows),
            "comparison_file": dg.MetadataValue.path(str(out)),
        }
    )
    return rows
