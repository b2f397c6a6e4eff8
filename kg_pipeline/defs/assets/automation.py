"""When the quality benchmark runs: nightly for every registered model, and whenever a model is
registered or its configuration changes."""

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the type define_asset_job returns; not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

from kg_pipeline.defs.registry import MODEL_PARTITIONS, ensure_registered
from kg_pipeline.serving.endpoints import EndpointsError
from kg_pipeline.store.config import ConfigStore, ModelConfig

NIGHTLY_CRON = "0 2 * * *"
_NOT_SETTINGS = {"id", "active", "created_at", "updated_at", "updated_by"}


def _registered() -> list[ModelConfig]:
    return [c for c in ensure_registered(ConfigStore()) if c.purpose == "extraction"]


def _fingerprint(config: ModelConfig) -> str:
    """What the benchmark depends on: every setting, not who changed it or when."""
    settings = config.model_dump_json(exclude=_NOT_SETTINGS)
    return hashlib.sha256(settings.encode()).hexdigest()[:12]


def build_automation(
    job: "UnresolvedAssetJobDefinition",
) -> tuple[dg.ScheduleDefinition, dg.SensorDefinition]:
    @dg.schedule(
        job=job,
        cron_schedule=NIGHTLY_CRON,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Re-extract and re-score the corpus with every registered model, nightly.",
    )
    def nightly_quality_benchmark(
        context: dg.ScheduleEvaluationContext,
    ) -> Iterator[dg.RunRequest]:
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        partitions = set(context.instance.get_dynamic_partitions(MODEL_PARTITIONS))
        for config in _registered():
            if config.name in partitions:
                yield dg.RunRequest(run_key=f"{config.name}:{night}", partition_key=config.name)
            else:
                context.log.warning(
                    f"{config.name} is registered but has no partition yet; the "
                    "model_registry_sensor adds it on its next evaluation"
                )

    @dg.sensor(
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Adds a partition for every registered model and benchmarks a model when it "
        "is registered or its configuration changes (the first evaluation only records the "
        "configuration).",
    )
    def model_registry_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            configs = _registered()
        except EndpointsError as exc:
            return dg.SensorResult(skip_reason=str(exc))
        current = {c.name: _fingerprint(c) for c in configs}
        known = set(context.instance.get_dynamic_partitions(MODEL_PARTITIONS))
        missing = [name for name in current if name not in known]
        partitions = [dg.AddDynamicPartitionsRequest(MODEL_PARTITIONS, missing)] if missing else []
        cursor = json.dumps(current, sort_keys=True)
        if not context.cursor:
            # First evaluation: remember what is registered now. Benchmarking every model the
            # moment the daemon starts would be the nightly schedule's job, done at a bad time.
            return dg.SensorResult(
                skip_reason=f"recorded the configuration of {len(current)} model(s)",
                cursor=cursor,
                dynamic_partitions_requests=partitions,
            )
        seen: dict[str, str] = json.loads(context.cursor)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        runs = [
            dg.RunRequest(run_key=f"{name}:{digest}:{stamp}", partition_key=name)
            for name, digest in current.items()
            if seen.get(name) != digest
        ]
        if not runs:
            return dg.SensorResult(
                skip_reason="no model configuration changed",
                cursor=cursor,
                dynamic_partitions_requests=partitions,
            )
        return dg.SensorResult(
            run_requests=runs, cursor=cursor, dynamic_partitions_requests=partitions
        )

    return nightly_quality_benchmark, model_registry_sensor
