"""`performance_report`: how fast each model endpoint serves the extraction request, and what
its server used doing so; measured weekly, since a server's speed drifts with upgrades and
neighbours while its answers (the quality report) do not."""

import base64
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:  # the type define_asset_job returns; not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

from kg_pipeline.defs.extraction_run import MODEL_POOL
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.defs.results_files import results_dir, write_atomically
from kg_pipeline.perf.report import render_levels, render_resources
from kg_pipeline.perf.sweep import plot_sweep, run_sweep
from kg_pipeline.settings import CORPUS_DIR
from kg_pipeline.store.config import ConfigError

# Sunday 03:00: after the nightly quality run (02:00) has had its hour; the shared pool keeps the
# two apart on one server anyway.
WEEKLY_CRON = "0 3 * * 0"


class PerformanceReportConfig(dg.Config):
    concurrency: list[int] = Field(
        default=[1, 2],
        description="Closed-loop concurrency levels (e.g. [1, 2, 4, 8] on a GPU server).",
    )
    requests_per_level: int = Field(
        default=3, ge=1, description="Measured requests per level (plus one warm-up each)."
    )
    rates: list[float] | None = Field(
        default=None,
        description="Request rates (requests/s) for Poisson-arrival levels, after the "
        "concurrency levels; none by default.",
    )
    seed: int = Field(default=0, description="Seed of the Poisson arrival schedule.")
    corpus_dir: str = Field(
        default=str(CORPUS_DIR.get()), description="Corpus whose chunks make the requests."
    )
    server_pid: int | None = Field(
        default=None,
        description="The server's process, for resource sampling where it cannot be found from "
        "the endpoint's port (a server in a container); remote servers are not sampled.",
    )
    sample_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the server's resources are sampled."
    )


def _peak(levels: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [lv[key] for lv in levels if lv[key] is not None]
    return max(values) if values else None


def report_metadata(result: dict[str, Any], out: Path, plot: Path) -> dict[str, Any]:
    """Tables for reading, numbers for Dagster's plots of a metric across materializations."""
    levels = result["levels"]
    # Inline as a data URI, so the plot shows in the UI wherever the file is not reachable.
    encoded = base64.b64encode(plot.read_bytes()).decode()
    metadata: dict[str, Any] = {
        "levels": dg.MetadataValue.md(render_levels(levels)),
        "resources": dg.MetadataValue.md(render_resources(levels)),
        "knee_concurrency": result["knee_concurrency"]
        if result["knee_concurrency"] is not None
        else dg.MetadataValue.null(),
        "knee_rate": result["knee_rate"]
        if result["knee_rate"] is not None
        else dg.MetadataValue.null(),
        "hardware": dg.MetadataValue.json(result["hardware"]),
        "model": result["model"],
        "plot": dg.MetadataValue.path(str(plot)),
        "plot_inline": dg.MetadataValue.md(
            f"![throughput and latency](data:image/png;base64,{encoded})"
        ),
        "result_file": dg.MetadataValue.path(str(out)),
    }
    for key, name in (
        ("chunks_per_minute", "peak_chunks_per_minute"),
        ("output_throughput", "peak_output_tokens_per_second"),
    ):
        if (peak := _peak(levels, key)) is not None:  # no made-up zero when unreported
            metadata[name] = dg.MetadataValue.float(peak)
    return metadata


def build_performance_report_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """`performance_report`, one partition per registered model."""

    @dg.asset(
        group_name="performance",
        partitions_def=partitions_def,
        kinds={"python"},
        # The same pool as `extractions`: a benchmark beside an extraction run on the same server
        # would measure the two sharing it, and slow the extraction down.
        pool=MODEL_POOL,
    )
    def performance_report(
        context: dg.AssetExecutionContext,
        config: PerformanceReportConfig,
        model_registry: ModelRegistry,
    ) -> dg.MaterializeResult[None]:
        """Streamed load with the real extraction request at each concurrency (closed loop) and
        request rate (Poisson arrivals): TTFT, ITL, E2EL percentiles, throughput, error rate, the
        knee, and the server's memory/CPU/GPU use per level (definitions in kg_pipeline/perf/)."""
        try:
            endpoint = model_registry.endpoint(context.partition_key)
        except ConfigError as exc:
            raise dg.Failure(str(exc)) from exc
        endpoint.ensure_server(context.log)
        settings = endpoint.settings
        if any(c < 1 for c in config.concurrency) or any(r <= 0 for r in config.rates or ()):
            raise dg.Failure("concurrency levels must be >= 1 and request rates > 0")
        context.log.info(
            f"benchmarking {settings.name} ({settings.model} at {settings.base_url}): "
            f"concurrency {config.concurrency}, rates {config.rates or []}"
        )
        result = run_sweep(
            settings,
            Path(config.corpus_dir),
            config.requests_per_level,
            config.concurrency,
            config.rates or (),
            config.seed,
            config.server_pid,
            config.sample_interval_seconds,
        )
        out = results_dir() / "performance" / f"{context.partition_key}.json"
        write_atomically(out, json.dumps(result, indent=1) + "\n")
        plot = out.with_suffix(".png")
        partial = out.with_suffix(".partial.png")  # matplotlib picks the format by extension
        plot_sweep(result, partial)
        partial.replace(plot)
        return dg.MaterializeResult(metadata=report_metadata(result, out, plot))

    return performance_report


def partition_keys(
    partitions_def: dg.PartitionsDefinition, context: dg.ScheduleEvaluationContext
) -> Sequence[str]:
    """Dynamic partitions are read from the instance when the schedule runs, so an endpoint added
    since the code location loaded is benchmarked too; static ones need no instance."""
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition) and partitions_def.name:
        return context.instance.get_dynamic_partitions(partitions_def.name)
    return partitions_def.get_partition_keys()


def build_weekly_performance_schedule(
    job: "dg.JobDefinition | UnresolvedAssetJobDefinition",
    partitions_def: dg.PartitionsDefinition,
) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=WEEKLY_CRON,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Benchmark every model endpoint's serving speed and resource use, weekly.",
    )
    def weekly_performance_report(
        context: dg.ScheduleEvaluationContext,
    ) -> Iterator[dg.RunRequest]:
        week = context.scheduled_execution_time.strftime("%Y-%m-%d")
        for key in partition_keys(partitions_def, context):
            yield dg.RunRequest(run_key=f"{key}:{week}", partition_key=key)

    return weekly_performance_report
