"""The model comparison: quality against speed, from measured quality reports only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kg_pipeline.quality.estimates import Estimate
from kg_pipeline.quality.figures import type_accuracy
from kg_pipeline.quality.report import QualityReport


@dataclass(frozen=True)
class ModelRow:
    endpoint: str
    model: str
    concept_f1: float
    # With its count of endpoint-matched relationships: "n/a (n = 0)" when none matched.
    relationship_type_accuracy: Estimate
    schema_valid_rate: float | None  # None: the model answered no chunk
    seconds_per_chunk: float | None
    output_tokens_per_second: float | None
    measured_against: str
    pareto: bool  # no other model is at least as good on both F1 and speed, and better on one


def compare_models(reports: Sequence[QualityReport]) -> list[ModelRow]:
    """One row per report, best concept F1 first; ``pareto`` marks the models worth choosing
    between (the quality/speed frontier)."""
    points = []
    for report in reports:
        seconds = report.seconds_per_chunk_mean
        tokens = report.completion_tokens_mean
        points.append(
            (
                report,
                report.micro(report.top_level).f1,
                seconds,
                tokens / seconds if tokens and seconds else None,
            )
        )
    rows = []
    for report, f1, seconds, tps in points:
        dominated = any(
            other_f1 >= f1
            and other_s is not None
            and seconds is not None
            and other_s <= seconds
            and (other_f1 > f1 or other_s < seconds)
            for other, other_f1, other_s, _ in points
            if other is not report
        )
        rows.append(
            ModelRow(
                endpoint=report.endpoint,
                model=report.model,
                concept_f1=f1,
                relationship_type_accuracy=type_accuracy(report.documents),
                schema_valid_rate=report.schema_valid_rate,
                seconds_per_chunk=seconds,
                output_tokens_per_second=tps,
                measured_against=report.measured_against,
                pareto=not dominated and seconds is not None,
            )
        )
    return sorted(rows, key=lambda r: -r.concept_f1)


def render_comparison(rows: Sequence[ModelRow]) -> str:
    def fmt(value: float | None, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [
        "| model | endpoint | concept F1 | type accuracy | schema-valid | s / chunk "
        "| output tok/s | on the quality/speed frontier | measured against |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.endpoint} | {fmt(r.concept_f1)} | "
            f"{r.relationship_type_accuracy.describe()} | {fmt(r.schema_valid_rate)} | "
            f"{fmt(r.seconds_per_chunk, 1)} | {fmt(r.output_tokens_per_second, 1)} | "
            f"{'yes' if r.pareto else ''} | {r.measured_against} |"
        )
    return "\n".join(lines) + "\n"
