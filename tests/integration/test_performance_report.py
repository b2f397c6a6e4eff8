"""`performance_report` materialized in-process against a loopback streaming server, and the
weekly schedule that asks for one run per model endpoint."""

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from kg_pipeline.definitions import performance_report
from kg_pipeline.defs.assets.performance import (
    WEEKLY_CRON,
    PerformanceReportConfig,
    build_performance_report_asset,
    build_weekly_performance_schedule,
)
from tests.models import materialize_partition, register_model

PARTITIONS = dg.StaticPartitionsDefinition(["stand-in"])


def test_the_report_carries_tables_plot_and_resources_for_its_endpoint(
    streaming_server: str, corpus: Path, tmp_path: Path
) -> None:
    register_model("stand-in", streaming_server, provider="ollama")
    config = {"corpus_dir": str(corpus), "rates": [30.0], "sample_interval_seconds": 0.05}
    result = materialize_partition(
        [performance_report],
        "stand-in",
        run_config=dg.RunConfig(ops={"performance_report": PerformanceReportConfig(**config)}),
    )
    assert result.success
    metadata = result.asset_materializations_for_node("performance_report")[0].metadata
    assert {
        "levels",
        "resources",
        "knee_concurrency",
        "knee_rate",
        "hardware",
        "plot",
        "plot_inline",
        "result_file",
        "peak_chunks_per_minute",
        "peak_output_tokens_per_second",
    } <= set(metadata)
    # Default levels: concurrency 1 and 2, then the one Poisson rate asked for.
    levels_table = metadata["levels"].value
    assert isinstance(levels_table, str)
    rows = levels_table.splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [
        "| concurrent 1",
        "| concurrent 2",
        "| poisson 30 req/s",
    ]
    assert all(" | 3/3 | " in row and row.endswith("| 0.0% |") for row in rows)
    # The stand-in listens in this process: memory was measured; no GPU tool here, or one there.
    resources_table = metadata["resources"].value
    assert isinstance(resources_table, str) and "MiB" in resources_table

    out = tmp_path / "results" / "performance" / "stand-in.json"
    assert metadata["result_file"].value == str(out)
    saved = json.loads(out.read_text())
    assert [lv["profile"] for lv in saved["levels"]] == ["concurrent", "concurrent", "poisson"]
    assert all(lv["resources"]["pid"] == os.getpid() for lv in saved["levels"])
    assert all(lv["resources"]["rss_mib"]["max"] > 0 for lv in saved["levels"])
    assert saved["requests_per_level"] == 3 and saved["endpoint"] == "stand-in"
    assert Path(str(metadata["plot"].value)).read_bytes()[:4] == b"\x89PNG"
    inline = metadata["plot_inline"].value
    assert isinstance(inline, str) and inline.startswith("![throughput and latency](data:image/png")
    assert not list(out.parent.glob("*.partial*"))


def test_the_asset_never_runs_beside_extraction_on_the_same_server() -> None:
    asset = build_performance_report_asset(PARTITIONS)
    spec = next(iter(asset.specs))
    assert asset.op.pool == "model_endpoints"
    assert spec.group_name == "performance" and spec.kinds == {"python"}


def _job_for(partitions: dg.PartitionsDefinition) -> dg.ScheduleDefinition:
    asset = build_performance_report_asset(partitions)
    job = dg.define_asset_job("performance_job", selection=[asset])
    return build_weekly_performance_schedule(job, partitions)


def _run_requests(
    schedule: dg.ScheduleDefinition, context: dg.ScheduleEvaluationContext
) -> list[dg.RunRequest]:
    evaluated = schedule(context)
    assert isinstance(evaluated, Iterator)
    requests = list(evaluated)
    assert all(isinstance(r, dg.RunRequest) for r in requests), requests  # no skip reason
    return [r for r in requests if isinstance(r, dg.RunRequest)]


SUNDAY = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)


def test_the_weekly_schedule_asks_for_one_run_per_endpoint() -> None:
    partitions = dg.StaticPartitionsDefinition(["ollama-qwen", "vllm-llama"])
    schedule = _job_for(partitions)
    assert schedule.cron_schedule == WEEKLY_CRON == "0 3 * * 0"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=SUNDAY)
        runs = _run_requests(schedule, context)
    assert [(r.partition_key, r.run_key) for r in runs] == [
        ("ollama-qwen", "ollama-qwen:2025-06-01"),
        ("vllm-llama", "vllm-llama:2025-06-01"),
    ]


def test_the_weekly_schedule_reads_dynamic_endpoints_when_it_runs() -> None:
    partitions = dg.DynamicPartitionsDefinition(name="models")
    schedule = _job_for(partitions)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["a", "b", "c"])
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=SUNDAY)
        runs = _run_requests(schedule, context)
    assert [r.partition_key for r in runs] == ["a", "b", "c"]
