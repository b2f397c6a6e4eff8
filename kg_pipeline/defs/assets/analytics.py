"""`extraction_analytics`: what extraction cost, per provider/model, over a window of days, from
the rows every extracting asset or op records at the end of its run
(kg_pipeline/defs/extraction_run.py ``record_extraction_analytics``)."""

import datetime as dt

import dagster as dg
from pydantic import Field

from kg_pipeline.contract.pricing import PriceFileError
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.defs.results_files import results_dir, write_atomically
from kg_pipeline.store.analytics import (
    DEFAULT_BASELINE_MODEL,
    AnalyticsRow,
    Savings,
    combine,
    dollars,
    fallback_rate_text,
    query,
    savings,
    total,
)


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def _success(row: AnalyticsRow) -> str:
    """n/a for a model that answered no chunk itself (every one fell back)."""
    return f"{row.success_rate:.1%}" if row.chunks else "n/a"


def markdown_table(rows: list[AnalyticsRow], saved: Savings) -> str:
    lines = [
        "| provider | model | chunks | input tokens | output tokens | cost USD | avg s | p95 s "
        "| success | fallbacks | GPU h |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*rows, total(rows)]:
        lines.append(
            f"| {r.provider} | {r.model} | {r.chunks} | {r.input_tokens:,} | "
            f"{r.output_tokens:,} | {r.cost_usd:.2f} | {_seconds(r.latency_mean_seconds)} | "
            f"{_seconds(r.latency_p95_seconds)} | "
            f"{_success(r)} | {r.fallbacks} | "
            f"{r.gpu_hours:.3f} |"
        )
    lines.append("")
    lines.append(
        f"All on {saved.baseline_model}: {dollars(saved.baseline_cost_usd)}; actual "
        f"{dollars(saved.actual_cost_usd)}; saved **{dollars(saved.usd)}**."
    )
    lines += [
        "",
        "Fallbacks, per model asked first (n/a: no chunk asked it first):",
        "",
        "| provider | model | fell back | added avg s | added p95 s | answered as fallback |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in [*rows, total(rows)]:
        lines.append(
            f"| {r.provider} | {r.model} | {fallback_rate_text(r)} | "
            f"{_seconds(r.fallback_added_mean_seconds)} | "
            f"{_seconds(r.fallback_added_p95_seconds)} | {r.fallbacks} |"
        )
    return "\n".join(lines)


class ExtractionAnalyticsConfig(dg.Config):
    days: int = Field(default=30, ge=1, description="Window: the last N days.")
    baseline_model: str = Field(
        default=DEFAULT_BASELINE_MODEL,
        description="Cloud model the savings are measured against (must be in the price file).",
    )


@dg.asset(group_name="evaluate", kinds={"python"})
def extraction_analytics(
    context: dg.AssetExecutionContext,
    config: ExtractionAnalyticsConfig,
    model_registry: ModelRegistry,
) -> dg.MaterializeResult[None]:
    """Chunks, tokens, cost, latency, success rate and fallbacks per provider/model over the last
    days, and the savings against running everything on the cloud baseline model; then each
    model's fallback rate and the seconds its failed attempts added."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=config.days)
    rows = combine(query(model_registry.store().engine, since))
    whole = total(rows)
    try:
        saved = savings(rows, config.baseline_model)
    except PriceFileError as exc:
        raise dg.Failure(str(exc)) from exc
    table = markdown_table(rows, saved)
    out = results_dir() / "analytics.md"
    heading = f"# Extraction analytics since {since:%Y-%m-%d %H:%M} UTC\n\n"
    write_atomically(out, heading + table + "\n")
    context.log.info(f"{whole.chunks} chunks since {since:%Y-%m-%d}: ${whole.cost_usd:.2f}")
    return dg.MaterializeResult(
        metadata={
            "since": since.isoformat(),
            "chunks": whole.chunks,
            "cost_usd": whole.cost_usd,
            "baseline_model": saved.baseline_model,
            "baseline_cost_usd": saved.baseline_cost_usd,
            "savings_usd": saved.usd,
            "success_rate": whole.success_rate,
            "fallbacks": whole.fallbacks,
            "fallback_rate": fallback_rate_text(whole),
            "by_model": dg.MetadataValue.md(table),
            "rows": dg.MetadataValue.json([r.as_json() for r in rows]),
            "analytics_file": dg.MetadataValue.path(str(out)),
        }
    )
