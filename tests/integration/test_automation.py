import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from kg_pipeline.definitions import model_registry_sensor, nightly_quality_benchmark
from kg_pipeline.defs.registry import MODEL_PARTITIONS
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.store.config import ConfigStore
from tests.models import register_model


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def test_nightly_schedule_requests_one_run_per_registered_model(
    instance: dg.DagsterInstance,
) -> None:
    instance.add_dynamic_partitions(MODEL_PARTITIONS, [DEFAULT_ENDPOINT.name])
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=dt.datetime(2026, 11, 25, 2)
    )
    # An empty store is seeded with the embedded model, which is then the one benchmarked.
    requests = list(nightly_quality_benchmark(context))
    assert [(r.partition_key, r.run_key) for r in requests] == [
        (DEFAULT_ENDPOINT.name, f"{DEFAULT_ENDPOINT.name}:2026-11-25")
    ]


def test_sensor_adds_partitions_and_benchmarks_a_model_when_it_is_registered_or_changed(
    instance: dg.DagsterInstance,
) -> None:
    # The first evaluation (daemon start) records the configuration, adds the partition and
    # launches nothing.
    first = model_registry_sensor(dg.build_sensor_context(instance=instance))
    assert not first.run_requests
    assert "recorded the configuration of 1 model" in str(first.skip_reason)
    [added] = first.dynamic_partitions_requests
    assert isinstance(added, dg.AddDynamicPartitionsRequest)
    assert list(added.partition_keys) == [DEFAULT_ENDPOINT.name]
    instance.add_dynamic_partitions(MODEL_PARTITIONS, [DEFAULT_ENDPOINT.name])

    unchanged = model_registry_sensor(
        dg.build_sensor_context(instance=instance, cursor=first.cursor)
    )
    assert not unchanged.run_requests and unchanged.skip_reason is not None
    assert not unchanged.dynamic_partitions_requests

    # Reconfigured from the CLI (here: the store it writes): temperature 0.3.
    store = ConfigStore()
    store.save(store.get(DEFAULT_ENDPOINT.name).model_copy(update={"temperature": 0.3}))
    changed = model_registry_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert [r.partition_key for r in changed.run_requests] == [DEFAULT_ENDPOINT.name]
    assert changed.cursor != first.cursor

    # A model registered since: its partition is added and it is benchmarked.
    register_model("gpu0-mistral", "http://gpu0:11434", "mistral:7b", "ollama", active=False)
    new = model_registry_sensor(dg.build_sensor_context(instance=instance, cursor=changed.cursor))
    assert [r.partition_key for r in new.run_requests] == ["gpu0-mistral"]
    assert [list(r.partition_keys) for r in new.dynamic_partitions_requests] == [["gpu0-mistral"]]


def test_sensor_reports_an_unreadable_endpoints_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text("[{")
    monkeypatch.setenv("KG_ENDPOINTS_FILE", str(path))
    result = model_registry_sensor(dg.build_sensor_context(instance=instance))
    assert result.skip_reason is not None and "endpoints.json" in str(result.skip_reason)


def test_an_endpoints_file_registers_its_models_and_stays_authoritative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    entry = {"name": "gpu0", "provider": "ollama", "base_url": "http://gpu0:11434", "model": "q"}
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps([entry]))
    monkeypatch.setenv("KG_ENDPOINTS_FILE", str(path))
    model_registry_sensor(dg.build_sensor_context(instance=instance))
    store = ConfigStore()
    assert [(c.name, c.active) for c in store.list()] == [("gpu0", True)]
    path.write_text(json.dumps([entry | {"temperature": 0.5}]))
    model_registry_sensor(dg.build_sensor_context(instance=instance))
    assert store.get("gpu0").temperature == 0.5
