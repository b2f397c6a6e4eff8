"""The one Definitions object: `dagster dev`, `dagster asset materialize -m kg_pipeline.definitions`
and the tests all load this.

Nothing here reads the model configuration: models are partitions (`models`, dynamic) and the
`model_registry` resource reads their settings from the configuration store when a run needs
them, so registering or switching a model never needs a code reload.
"""

from __future__ import annotations

import dagster as dg

from kg_pipeline.defs.assets.analytics import extraction_analytics
from kg_pipeline.defs.assets.automation import build_automation
from kg_pipeline.defs.assets.baseline import (
    CLOUD_BASELINE_KEY,
    build_baseline_asset,
    cloud_baseline_endpoint,
)
from kg_pipeline.defs.assets.corpus import chunks, documents
from kg_pipeline.defs.assets.extractions import build_extractions_asset
from kg_pipeline.defs.assets.image_ingest import ingest_images_job
from kg_pipeline.defs.assets.ingest import ingest_job
from kg_pipeline.defs.assets.performance import (
    build_performance_report_asset,
    build_weekly_performance_schedule,
)
from kg_pipeline.defs.assets.quality import build_quality_report_asset, model_comparison
from kg_pipeline.defs.registry import model_partitions
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.defs.run_recovery import killed_runs_sensor

extractions = build_extractions_asset(model_partitions)
quality_report = build_quality_report_asset(model_partitions)
baseline = build_baseline_asset()
performance_report = build_performance_report_asset(model_partitions)
ASSETS = [
    documents, chunks, extractions, baseline, quality_report, model_comparison, performance_report,
    extraction_analytics,
]  # fmt: skip

extraction_job = dg.define_asset_job(
    name="extraction_job",
    selection=[documents, chunks, extractions, baseline, quality_report],
    description="documents -> chunks -> extractions + baseline -> quality_report for one "
    "registered model (the partition).",
)

performance_job = dg.define_asset_job(
    name="performance_job",
    selection=[performance_report],
    description="Serving benchmark of one registered model (the partition): latency, "
    "throughput and server resources.",
)

nightly_quality_benchmark, model_registry_sensor = build_automation(extraction_job)
weekly_performance_report = build_weekly_performance_schedule(performance_job, model_partitions)

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[extraction_job, performance_job, ingest_job, ingest_images_job],
    schedules=[nightly_quality_benchmark, weekly_performance_report],
    sensors=[model_registry_sensor, killed_runs_sensor],
    resources={
        "model_registry": ModelRegistry(),
        CLOUD_BASELINE_KEY: cloud_baseline_endpoint(),
    },
)
