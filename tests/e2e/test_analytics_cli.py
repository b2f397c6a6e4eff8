"""`kg admin extraction analytics` and the `extraction_analytics` asset over recorded runs in the
test's own database, and a run recording itself through ``record_extraction_analytics``.

Prices are the test's own: gpt-4o $2.50 in / $10 out, gpt-4o-mini $0.15 / $0.60 per million.
"""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.analytics import analytics_command
from kg_pipeline.defs.assets.analytics import extraction_analytics
from kg_pipeline.defs.extraction_run import record_extraction_analytics
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.run_analytics import ModelRef, summarise_run
from kg_pipeline.providers.base import CallStats
from kg_pipeline.store.analytics import query, record_run
from kg_pipeline.store.database import create_engine
from tests.models import register_model

PRICES = {
    "usd_per_million_tokens": {
        "gpt-4o": {"input": 2.50, "output": 10.00},
        "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    }
}


@pytest.fixture(autouse=True)
def prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICES))
    monkeypatch.setenv("KG_PRICES_FILE", str(path))
    monkeypatch.delenv("KG_GPU_COST_PER_HOUR", raising=False)
    monkeypatch.delenv("KG_BASELINE_MODEL", raising=False)


def record(provider: str, model: str, stats: CallStats, endpoint: str = "e") -> ChunkExtraction:
    return ChunkExtraction(chunk_id="c", document_id="d", endpoint=endpoint, provider=provider,
                           model=model, vocabulary="base31", status=ExtractionStatus.VALID,
                           stats=stats)  # fmt: skip


def record_runs(old_days: int | None = None) -> None:
    """gpt-4o: 1,000,000 in / 100,000 out (2.50 + 1.00 = $3.50) in 2 s; mistral (local):
    2,000,000 in / 500,000 out, $0, in 4 s. With ``old_days``, also a gpt-4o run that long ago
    costing 400,000 in x $2.50 / 1e6 = $1.00."""
    engine = create_engine()
    cloud = summarise_run([record("openai", "gpt-4o", CallStats(prompt_tokens=1_000_000,
                                                               completion_tokens=100_000,
                                                               wall_seconds=2.0))])  # fmt: skip
    local = summarise_run([record("ollama", "mistral", CallStats(prompt_tokens=2_000_000,
                                                                completion_tokens=500_000,
                                                                wall_seconds=4.0))])  # fmt: skip
    record_run(engine, cloud, "run-cloud", "extractions:cloud")
    record_run(engine, local, "run-local", "ingest")
    if old_days is not None:
        old = summarise_run([record("openai", "gpt-4o", CallStats(prompt_tokens=400_000,
                                                                 completion_tokens=0,
                                                                 wall_seconds=1.0))])  # fmt: skip
        then = dt.datetime.now(dt.UTC) - dt.timedelta(days=old_days)
        record_run(engine, old, "run-old", "ingest", then)


def analytics(*args: str) -> Result:
    return CliRunner().invoke(analytics_command, list(args), catch_exceptions=False)


def test_json_gives_each_models_figures_and_the_savings_against_the_baseline() -> None:
    record_runs()
    result = analytics("--last-30-days", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_model = {m["model"]: m for m in report["models"]}
    assert [m["model"] for m in report["models"]] == ["mistral", "gpt-4o"]  # by provider
    assert (by_model["gpt-4o"]["cost_usd"], by_model["mistral"]["cost_usd"]) == (3.5, 0.0)
    assert by_model["mistral"]["latency_mean_seconds"] == 4.0
    assert report["total"]["chunks"] == 2 and report["total"]["cost_usd"] == 3.5
    # all on gpt-4o: (3,000,000 x $2.50 + 600,000 x $10) / 1e6 = 7.50 + 6.00 = $13.50;
    # saved 13.50 - 3.50 = $10.00
    assert report["savings"] == {"baseline_model": "gpt-4o", "baseline_cost_usd": 13.5,
                                 "actual_cost_usd": 3.5, "savings_usd": 10.0}  # fmt: skip


def test_the_table_prints_cents_and_the_savings_line() -> None:
    record_runs()
    result = analytics()
    assert result.exit_code == 0, result.output
    cloud = next(line for line in result.output.splitlines() if line.startswith("openai/gpt-4o"))
    assert cloud.split() == ["openai/gpt-4o", "1", "1,000,000", "100,000", "3.50", "2.00",
                             "2.00", "100.0%", "0"]  # fmt: skip
    assert "savings against gpt-4o: $10.00 (the same tokens on gpt-4o: $13.50; actual: $3.50)" in (
        result.output
    )
    # against gpt-4o-mini: (3,000,000 x 0.15 + 600,000 x 0.60) / 1e6 = 0.45 + 0.36 = $0.81,
    # so the run cost $3.50 - $0.81 = $2.69 more than all on the mini would have
    mini = analytics("--baseline-model", "gpt-4o-mini")
    assert "savings against gpt-4o-mini: -$2.69 (" in mini.output


def test_the_window_leaves_out_older_runs_unless_since_reaches_them() -> None:
    record_runs(old_days=40)
    recent = json.loads(analytics("--json").output)
    assert recent["total"]["cost_usd"] == 3.5  # the $1.00 run is 40 days old
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=41)).strftime("%Y-%m-%d")
    everything = json.loads(analytics("--since", since, "--json").output)
    assert everything["total"]["cost_usd"] == 4.5  # 3.50 + 1.00


def test_conflicting_windows_and_unpriced_baselines_are_one_line_errors() -> None:
    both = CliRunner().invoke(analytics_command, ["--last-30-days", "--since", "2025-01-01"])
    assert both.exit_code == 1 and "give --last-30-days or --since, not both" in both.output
    unpriced = CliRunner().invoke(analytics_command, ["--baseline-model", "gpt-5"])
    assert unpriced.exit_code == 1
    assert "'gpt-5' has no price in" in unpriced.output


def test_the_asset_reports_the_same_figures_as_the_command(
    tmp_path: Path, dagster_instance: dg.DagsterInstance
) -> None:
    record_runs(old_days=40)
    cli = json.loads(analytics("--json").output)
    result = dg.materialize(
        [extraction_analytics],
        resources={"model_registry": ModelRegistry()},
        instance=dagster_instance,
    )
    metadata = result.asset_materializations_for_node("extraction_analytics")[0].metadata
    assert metadata["cost_usd"].value == pytest.approx(cli["total"]["cost_usd"])  # $3.50
    assert metadata["savings_usd"].value == pytest.approx(cli["savings"]["savings_usd"])  # $10
    assert metadata["chunks"].value == 2
    table = (tmp_path / "results" / "analytics.md").read_text()
    assert "| openai | gpt-4o | 1 | 1,000,000 | 100,000 | 3.50 |" in table
    assert "saved **$10.00**" in table and metadata["by_model"].value in table


def test_a_run_records_its_figures_and_bills_its_fallbacks_to_the_fallback_model(
    dagster_instance: dg.DagsterInstance,
) -> None:
    register_model("gpu0", "http://127.0.0.1:9", model="mistral", provider="ollama",
                   options={"fallback_endpoint": "cloud-mini"})  # fmt: skip
    register_model("cloud-mini", "http://127.0.0.1:9", model="gpt-4o-mini", provider="openai",
                   active=False)  # fmt: skip
    records = [
        record("ollama", "mistral", CallStats(prompt_tokens=900, completion_tokens=90,
                                              wall_seconds=5.0), "gpu0"),
        record("ollama", "mistral", CallStats(prompt_tokens=10_000, completion_tokens=2_000,
                                              wall_seconds=3.0, fallback_from="gpu0"), "gpu0"),
    ]  # fmt: skip

    @dg.asset
    def extracted(context: dg.AssetExecutionContext, model_registry: ModelRegistry) -> None:
        record_extraction_analytics(context, records, "extractions:gpu0", model_registry)

    result = dg.materialize(
        [extracted], resources={"model_registry": ModelRegistry()}, instance=dagster_instance
    )
    rows = query(create_engine(), dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    summary: list[Any] = [(r.model, r.chunks, r.fallbacks, r.cost_usd, r.run_id, r.source)
                          for r in rows]  # fmt: skip
    # gpt-4o-mini: 10,000 x $0.15 / 1e6 + 2,000 x $0.60 / 1e6 = 0.0015 + 0.0012 = $0.0027
    assert sorted(summary) == [
        ("gpt-4o-mini", 1, 1, 0.0027, result.run_id, "extractions:gpu0"),
        ("mistral", 1, 0, 0.0, result.run_id, "extractions:gpu0"),
    ]
    logged = [e.user_message for e in dagster_instance.all_logs(result.run_id)]
    assert any(m.startswith("extraction cost $0.00 for 2 chunks (") for m in logged)


def record_fallback_run() -> None:
    """gpu0 (mistral) asked 40 chunks: 38 answered, 2 fell back to gpt-4o-mini after failed
    attempts of 2.0 s and 6.0 s."""
    register_model("gpu0", "http://127.0.0.1:9", model="mistral", provider="ollama",
                   options={"fallback_endpoint": "cloud-mini"})  # fmt: skip
    register_model("cloud-mini", "http://127.0.0.1:9", model="gpt-4o-mini", provider="openai",
                   active=False)  # fmt: skip
    own = [record("ollama", "mistral", CallStats(wall_seconds=1.0), "gpu0") for _ in range(38)]
    fell_back = [
        record("ollama", "mistral", CallStats(prompt_tokens=1_000, completion_tokens=100,
                                              wall_seconds=1.0, fallback_from="gpu0",
                                              fallback_added_seconds=added), "gpu0")
        for added in (2.0, 6.0)
    ]  # fmt: skip
    mini = ModelRef("openai", "gpt-4o-mini", "cloud-mini")
    record_run(create_engine(), summarise_run(own + fell_back, {"gpu0": mini}), "run-1", "ingest")


def test_the_command_gives_each_models_fallback_rate_and_the_seconds_it_added() -> None:
    record_fallback_run()
    result = analytics()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    table = lines[lines.index("fallbacks, per model asked first (n/a: no chunk asked it first)") :]
    rows = {line.split()[0]: line.split()[1:] for line in table[2:]}
    # mistral: 2 of 40 fell back = 5.0 %; added mean (2.0 + 6.0) / 2 = 4.00, nearest-rank p95
    # of 2 values: rank ceil(1.9) = 2 -> 6.00; it answered no chunk as anyone's fallback
    assert rows["ollama/mistral"] == ["2/40", "=", "5.0", "%", "4.00", "6.00", "0"]
    # gpt-4o-mini was asked first for nothing: n/a, never 0 %; it answered 2 as the fallback
    assert rows["openai/gpt-4o-mini"] == ["n/a", "n/a", "n/a", "2"]
    assert rows["total"] == ["2/40", "=", "5.0", "%", "4.00", "6.00", "2"]

    report = json.loads(analytics("--json").output)
    by_model = {m["model"]: m for m in report["models"]}
    assert {k: by_model["mistral"][k] for k in ("asked_chunks", "fell_back_chunks",
            "fallback_rate", "fallback_added_mean_seconds", "fallback_added_p95_seconds")} == {
        "asked_chunks": 40, "fell_back_chunks": 2, "fallback_rate": 0.05,
        "fallback_added_mean_seconds": 4.0, "fallback_added_p95_seconds": 6.0}  # fmt: skip
    assert by_model["gpt-4o-mini"]["fallback_rate"] is None
    assert by_model["gpt-4o-mini"]["fallback_added_mean_seconds"] is None


def test_the_asset_shows_the_same_fallback_figures(
    tmp_path: Path, dagster_instance: dg.DagsterInstance
) -> None:
    record_fallback_run()
    result = dg.materialize(
        [extraction_analytics],
        resources={"model_registry": ModelRegistry()},
        instance=dagster_instance,
    )
    metadata = result.asset_materializations_for_node("extraction_analytics")[0].metadata
    assert metadata["fallback_rate"].value == "2/40 = 5.0 %"
    table = (tmp_path / "results" / "analytics.md").read_text()
    assert "| ollama | mistral | 2/40 = 5.0 % | 4.00 | 6.00 | 0 |" in table
    assert "| openai | gpt-4o-mini | n/a | n/a | n/a | 2 |" in table
