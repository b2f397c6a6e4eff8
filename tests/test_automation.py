import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest

from kg_pipeline.definitions import endpoint_config_sensor, nightly_quality_benchmark
from kg_pipeline.endpoints import DEFAULT_ENDPOINT


def test_nightly_schedule_requests_one_run_per_endpoint() -> None:
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 25, 2))
    requests = list(nightly_quality_benchmark(context))
    assert [(r.partition_key, r.run_key) for r in requests] == [
        (DEFAULT_ENDPOINT.name, f"{DEFAULT_ENDPOINT.name}:2026-11-25")
    ]


def test_sensor_benchmarks_an_endpoint_when_its_configuration_changes_or_it_is_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first evaluation (daemon start) records the configuration and launches nothing.
    result = endpoint_config_sensor(dg.build_sensor_context())
    assert not result.run_requests
    assert "recorded the configuration of 1 endpoint" in str(result.skip_reason)

    unchanged = endpoint_config_sensor(dg.build_sensor_context(cursor=result.cursor))
    assert unchanged.run_requests == [] or unchanged.run_requests is None
    assert unchanged.skip_reason is not None

    # The same endpoint, reconfigured (temperature 0.3) through an endpoints file.
    entry = DEFAULT_ENDPOINT.model_dump(mode="json", exclude={"api_key"}) | {"temperature": 0.3}
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps([entry]))
    monkeypatch.setenv("KG_ENDPOINTS_FILE", str(path))
    changed = endpoint_config_sensor(dg.build_sensor_context(cursor=result.cursor))
    assert [r.partition_key for r in changed.run_requests] == [DEFAULT_ENDPOINT.name]
    assert changed.cursor != result.cursor

    # An endpoint that was not there before counts as changed: registered, so benchmarked.
    without_it = json.dumps({})
    added = endpoint_config_sensor(dg.build_sensor_context(cursor=without_it))
    assert [r.partition_key for r in added.run_requests] == [DEFAULT_ENDPOINT.name]


def test_sensor_reports_an_unreadable_endpoints_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text("[{")
    monkeypatch.setenv("KG_ENDPOINTS_FILE", str(path))
    result = endpoint_config_sensor(dg.build_sensor_context())
    assert result.skip_reason is not None and "endpoints.json" in str(result.skip_reason)
