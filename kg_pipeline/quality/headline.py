"""The headline numbers of a quality report, flat, for the asset's metadata and its checks: the
one place that decides which figures a run shows at a glance and how a figure over nothing
reads there."""

from __future__ import annotations

from collections.abc import Mapping

from kg_pipeline.quality.report import QualityReport

# The rates the asset's metadata carries, each with its count as ``<name>_n``.
HEADLINE_FIGURES = (
    "relationship_type_accuracy",
    "calibration_error",
    "model_quote_precision",
    "model_quote_normalised_precision",
    "model_quote_error_rate",
    "quote_precision",
    "quote_error_rate",
)


def summary_metrics(report: QualityReport) -> Mapping[str, float | int | None]:
    """The headline numbers, for asset metadata and checks. A rate over nothing is None (null)
    beside its count, never 0.0, which would read as a measured zero; the schema-valid rate is
    left out when the model answered no chunk (0 would read as bad JSON)."""
    rel = report.relationships()
    out: dict[str, float | int | None] = {
        "relationship_f1": rel.prf.f1,
        "pair_f1": report.pairs().f1,
        "pair_f1_exact": report.pairs(exact=True).f1,
        "relationship_f1_exact": report.exact_relationships().f1,
    }
    figures = report.figures
    for name in HEADLINE_FIGURES:
        out[name] = figures[name].value
        out[f"{name}_n"] = figures[name].n
    if report.schema_valid_rate is not None:
        out["schema_valid_rate"] = report.schema_valid_rate
    for level in report.levels:
        out[f"concept_f1_{level.value}"] = report.micro(level).f1
    return out
