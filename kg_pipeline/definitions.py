"""The one Definitions object: `dagster dev`, `dagster asset materialize -m kg_pipeline.definitions`
and the tests all load this."""

from __future__ import annotations

import dagster as dg

from kg_pipeline.assets.automation import build_automation
from kg_pipeline.assets.baseline import (
    CLOUD_BASELINE_KEY,
    build_baseline_asset,
    cloud_baseline_endpoint,
)
from kg_pipeline.assets.corpus import chunks, documents
from kg_pipeline.assets.extractions import build_extractions_asset
from kg_pipeline.assets.quality import build_quality_report_asset, model_comparison
from kg_pipeline.endpoints import load_endpoints
from kg_pipeline.resources import ModelEndpoint, resource_key

ENDPOINTS = load_endpoints()
# One partition per model endpoint: each endpoint's extractions and report stand on their own.
model_partitions = dg.StaticPartitionsDefinition([e.name for e in ENDPOINTS])
extractions = build_extractions_asset(model_partitions)
quality_report = build_quality_report_asset(model_partitions)
baseline = build_baseline_asset([e.name for e in ENDPOINTS])
ASSETS = [documents, chunks, extractions, baseline, quality_report, model_comparison]

extraction_job = dg.define_asset_job(
    name="extraction_job",
    selection=[documents, chunks, extractions, baseline, quality_report],
    description="documents -> chunks -> extractions + baseline -> quality_report for one model "
    "endpoint.",
)

nightly_quality_benchmark, endpoint_config_sensor = build_automation(
    extraction_job, [e.name for e in ENDPOINTS]
)

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[extraction_job],
    schedules=[nightly_quality_benchmark],
    sensors=[endpoint_config_sensor],
    resources={resource_key(e.name): ModelEndpoint.from_entry(e) for e in ENDPOINTS}
    | {CLOUD_BASELINE_KEY: cloud_baseline_endpoint()},
)
