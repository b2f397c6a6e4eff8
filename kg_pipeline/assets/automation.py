"""When the quality benchmark runs: nightly for every endpoint, and whenever an endpoint's
configuration changes."""

import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the type define_asset_job returns; not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

from kg_pipeline.endpoints import EndpointsError, load_endpoints

NIGHTLY_CRON = "0 2 * * *"


def build_automation(
    job: "UnresolvedAssetJobDefinition", endpoint_names: list[str]
) -> tuple[dg.ScheduleDefinition, dg.SensorDefinition]:
    @dg.schedule(
        job=job,
        cron_schedule=NIGHTLY_CRON,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Re-extract and re-score the corpus with every configured endpoint, nightly.",
    )
    def nightly_quality_benchmark(
        context: dg.ScheduleEvaluationContext,
    ) -> Iterator[dg.RunRequest]:
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        for name in endpoint_names:
            yield dg.RunRequest(run_key=f"{name}:{night}", partition_key=name)

    @dg.sensor(
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Benchmark an endpoint when it is added or its configuration changes "
        "(the endpoints file is re-read on every evaluation; the first evaluation only records "
        "the configuration).",
    )
    def endpoint_config_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            entries = load_endpoints()
        except EndpointsError as exc:
            return dg.SensorResult(skip_reason=str(exc))
        current = {e.name: _fingerprint(e.model_dump_json(exclude={"api_key"})) for e in entries}
        if not context.cursor:
            # First evaluation: remember what is configured now. Benchmarking every endpoint the
            # moment the daemon starts would be the nightly schedule's job, done at a bad time.
            return dg.SensorResult(
                skip_reason=f"recorded the configuration of {len(current)} endpoint(s)",
                cursor=json.dumps(current, sort_keys=True),
            )
        seen: dict[str, str] = json.loads(context.cursor)
        changed = [name for name, digest in current.items() if seen.get(name) != digest]
        unknown = [name for name in changed if name not in endpoint_names]
        if unknown:
            context.log.warning(
                f"endpoints {', '.join(unknown)} are new since the code location loaded; reload "
                "it (UI: Deployment > Reload) to add their partitions"
            )
        runs = [
            dg.RunRequest(run_key=f"{name}:{current[name]}", partition_key=name)
            for name in changed
            if name in endpoint_names
        ]
        cursor = json.dumps({k: v for k, v in current.items() if k not in unknown}, sort_keys=True)
        if not runs:
            return dg.SensorResult(skip_reason="no endpoint configuration changed", cursor=cursor)
        return dg.SensorResult(run_requests=runs, cursor=cursor)

    return nightly_quality_benchmark, endpoint_config_sensor


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
