"""compose/prometheus: the alert rules and scrape configuration, checked as data against the
metrics kg_pipeline/extraction/telemetry.py actually defines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kg_pipeline.extraction.telemetry import LATENCY_BUCKETS, REGISTRY

PROMETHEUS = Path(__file__).resolve().parents[2] / "compose" / "prometheus"
# Alert -> (the number its expression compares against, its `for:`).
EXPECTED = {
    "ExtractionLatencyHigh": (60.0, "10m"),
    "ExtractionErrorRateHigh": (0.05, "5m"),
    "GPUMemoryNearlyFull": (0.95, "5m"),
    "EndpointDown": (0.0, "2m"),
    "FallbackRateHigh": (0.2, "10m"),
}
KG_NAME = re.compile(r"\bkg_[a-z_]+\b")
COMPARISON = re.compile(r"(>|<|==|!=|>=|<=)\s*([0-9.]+)\s*$")


def exposed_names() -> set[str]:
    """The series names a scrape can show: a counter ``x`` is exposed as ``x_total``, a
    histogram as ``x_bucket``/``x_sum``/``x_count``."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def rules() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return {r["alert"]: r for group in data["groups"] for r in group["rules"] if "alert" in r}


def test_the_five_alerts_exist() -> None:
    assert set(EXPECTED) <= set(rules())


@pytest.mark.parametrize("alert", sorted(EXPECTED))
def test_each_alert_compares_against_its_threshold_and_waits_its_duration(alert: str) -> None:
    rule = rules()[alert]
    match = COMPARISON.search(rule["expr"].strip())
    assert match is not None, rule["expr"]
    threshold, duration = EXPECTED[alert]
    assert float(match.group(2)) == threshold
    assert match.group(1) == ("==" if alert == "EndpointDown" else ">")
    assert rule["for"] == duration
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]


@pytest.mark.parametrize("alert", sorted(EXPECTED))
def test_each_alert_reads_only_metrics_the_exporter_defines(alert: str) -> None:
    used = set(KG_NAME.findall(rules()[alert]["expr"]))
    assert used, "the alert reads none of the pipeline's metrics"
    assert used <= exposed_names()


def test_latency_alert_takes_the_95th_percentile_of_the_histogram() -> None:
    expr = rules()["ExtractionLatencyHigh"]["expr"]
    assert "histogram_quantile(0.95" in expr
    assert "le" in re.findall(r"by \(([^)]*)\)", expr)[0].replace(" ", "").split(",")


def test_the_latency_threshold_is_a_bucket_edge() -> None:
    # histogram_quantile interpolates inside a bucket; with 60 an edge, "p95 > 60" is exact.
    assert 60 in LATENCY_BUCKETS


def test_prometheus_config_loads_the_rules_and_scrapes_the_exporter() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert "alerts.yml" in config["rule_files"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs["kg_pipeline"]["static_configs"] for t in sc["targets"]]
    # One target per run worker that may export at once, as many as compose/dagster.yaml runs.
    dagster = yaml.safe_load((PROMETHEUS.parent / "dagster.yaml").read_text(encoding="utf-8"))
    runs = dagster["concurrency"]["runs"]["max_concurrent_runs"]
    assert targets == [f"dagster-code:{9464 + n}" for n in range(runs)]
    assert jobs["kg_pipeline"].get("metrics_path", "/metrics") == "/metrics"
    assert "vllm" in jobs
    interval = config["global"]["scrape_interval"]
    assert int(config["global"]["scrape_timeout"].rstrip("s")) < int(interval.rstrip("s"))
