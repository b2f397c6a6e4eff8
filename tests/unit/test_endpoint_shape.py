"""One endpoint shape: a registered model's row, an endpoints-file entry and the Dagster resource
all hold the same endpoint fields, and each turns into the same settings a provider takes."""

import json

import pytest

from kg_pipeline.defs.registry import config_from_entry
from kg_pipeline.defs.resources import ModelEndpoint
from kg_pipeline.providers.base import EndpointFields, EndpointOptions, ThinkingMode
from kg_pipeline.serving.endpoints import EndpointEntry
from kg_pipeline.store.config import ModelConfig, ModelOptions

ROW_ONLY = {"id", "created_at", "updated_at", "updated_by"}


def registered() -> ModelConfig:
    """A row with every endpoint field away from its default, columns and options alike."""
    return ModelConfig(
        name="gpu0-qwen",
        provider="vllm",
        model_name="qwen2.5:7b",
        base_url="http://gpu0:8000",
        max_tokens=2048,
        temperature=0.3,
        top_p=0.7,
        gpu_layers=20,
        num_threads=8,
        thinking_mode=ThinkingMode.LOW,
        max_concurrent_requests=6,
        max_retries=5,
        active=True,
        options=ModelOptions(
            api_key_env="GPU0_KEY",
            seed=7,
            keep_alive="30m",
            structured_output="gbnf",
            timeout_seconds=90.0,
            connect_timeout_seconds=3.0,
            total_timeout_seconds=120.0,
            retry_backoff_seconds=0.2,
            cooldown_seconds=2.0,
            outage_budget_seconds=60.0,
            fallback_endpoint="cloud",
            fallback_on_error=False,
            fallback_on_timeout=False,
            local_timeout_seconds=45.0,
            repeat_penalty=1.0,
            manage_local_server=True,
            gleaning=2,
        ),
    )


def test_a_registered_models_settings_carry_every_endpoint_field_of_its_row() -> None:
    settings = registered().settings()
    fields = EndpointFields.model_fields
    from_row = {name for name, field in fields.items() if getattr(settings, name) != field.default}
    # Every field was set away from its default above, so each made it from a column or option.
    assert from_row == set(fields)


def test_a_row_read_as_settings_and_written_back_is_the_same_row() -> None:
    config = registered()
    again = ModelConfig.from_endpoint(config.settings(), config.options, active=True)
    assert again.model_dump(exclude=ROW_ONLY) == config.model_dump(exclude=ROW_ONLY)


def test_stored_options_keep_the_order_the_model_fingerprints_were_taken_in() -> None:
    # The registry sensor benchmarks a model whose fingerprint (its settings as JSON) changes;
    # a new key order would change every model's fingerprint and benchmark them all at once.
    # (A new option does so once, and repeat_penalty was meant to: it changed every request to a
    # local server.)
    keys = list(json.loads(ModelOptions().model_dump_json()))
    assert keys == [
        "api_key_env", "seed", "keep_alive", "structured_output", "timeout_seconds",
        "connect_timeout_seconds", "total_timeout_seconds", "retry_backoff_seconds",
        "cooldown_seconds", "outage_budget_seconds", "fallback_endpoint", "fallback_on_error",
        "fallback_on_timeout", "local_timeout_seconds", "repeat_penalty", "manage_local_server",
        "replicas",
        "prompt_version", "ground_quotes", "gleaning",
    ]  # fmt: skip
    assert set(EndpointOptions.model_fields) < set(keys)


def test_the_dagster_resource_of_a_registered_model_has_its_settings_and_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPU0_KEY", "sk-gpu0")
    config = registered()
    endpoint = ModelEndpoint.from_config(config)
    assert endpoint.settings == config.settings()
    assert endpoint.settings.api_key is not None
    assert endpoint.settings.api_key.get_secret_value() == "sk-gpu0"
    assert endpoint.manage_local_server


def test_an_endpoints_file_entry_registers_as_the_row_it_describes() -> None:
    config = registered()
    entry = EndpointEntry(
        **config.settings().model_dump(exclude={"api_key"}),
        api_key_env="GPU0_KEY",
        manage_local_server=True,
    )
    from_file = config_from_entry(entry, active=True)
    assert from_file.settings() == config.settings()
    assert from_file.options.api_key_env == "GPU0_KEY"
    assert from_file.options.manage_local_server and from_file.active
