import json
from pathlib import Path

import dagster as dg
import pytest

from kg_pipeline.definitions import defs
from kg_pipeline.defs.registry import MODEL_PARTITIONS, config_from_entry
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.serving.endpoints import (
    DEFAULT_ENDPOINT,
    EndpointsError,
    benchmark_target,
    load_endpoints,
)
from kg_pipeline.serving.local_server import DEFAULT_SLOTS, LocalServer
from kg_pipeline.store.config import ConfigStore


def test_definitions_load_with_every_stage_and_the_main_job() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "documents", "chunks", "extractions", "baseline", "quality_report", "model_comparison",
        "performance_report", "extraction_analytics",
    }  # fmt: skip
    job = defs.resolve_job_def("extraction_job")
    assert isinstance(job.partitions_def, dg.DynamicPartitionsDefinition)
    assert job.partitions_def.name == MODEL_PARTITIONS
    assert defs.resolve_job_def("ingest_job") is not None


def test_models_come_from_the_registry_resource_read_at_run_time() -> None:
    resources = defs.resources or {}
    assert isinstance(resources["model_registry"], ModelRegistry)
    # Loading the definitions registered nothing: the store is read when a run needs it.
    assert ConfigStore().list() == []


def test_without_configuration_the_embedded_model_is_the_only_endpoint() -> None:
    assert load_endpoints() == [DEFAULT_ENDPOINT]
    # As many in flight as the embedded server has slots, so its pool never queues at the server.
    assert DEFAULT_ENDPOINT.manage_local_server
    assert DEFAULT_ENDPOINT.max_concurrent_requests == LocalServer().slots == DEFAULT_SLOTS


def test_endpoints_file_lists_servers_and_names_key_variables_not_keys(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(
            [
                {"name": "gpu0-ollama", "provider": "ollama", "base_url": "http://gpu0:11434",
                 "model": "qwen2.5:7b-instruct", "max_concurrent_requests": 4},
                {"name": "gpt-4o", "provider": "openai", "base_url": "https://api.openai.com",
                 "model": "gpt-4o", "api_key_env": "OPENAI_API_KEY"},
            ]
        )
    )  # fmt: skip
    entries = load_endpoints(path)
    assert [e.name for e in entries] == ["gpu0-ollama", "gpt-4o"]
    config = config_from_entry(entries[1])
    assert config.options.api_key_env == "OPENAI_API_KEY"
    assert "sk-" not in config.model_dump_json()


def test_duplicate_endpoint_names_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    entry = {"name": "a", "provider": "vllm", "base_url": "http://x", "model": "m"}
    path.write_text(json.dumps([entry, entry]))
    with pytest.raises(EndpointsError, match="unique names"):
        load_endpoints(path)


def test_a_benchmark_target_names_its_server_and_is_validated() -> None:
    target = benchmark_target("http://127.0.0.1:11434", "qwen2.5:7b-instruct", "ollama")
    assert (target.provider, target.model, target.name) == (
        "ollama",
        "qwen2.5:7b-instruct",
        "qwen2.5:7b-instruct",
    )
    with pytest.raises(EndpointsError, match="--model"):
        benchmark_target("http://127.0.0.1:11434")
    with pytest.raises(ValueError, match="provider"):
        benchmark_target("http://127.0.0.1:11434", "m", "olama")
