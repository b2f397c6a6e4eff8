"""Registering models for a test: rows in the test's own configuration store (see the
``isolated_state`` fixture), and materializing a partition with the registry reading them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from kg_pipeline.defs.assets.baseline import CLOUD_BASELINE_KEY
from kg_pipeline.defs.registry import MODEL_PARTITIONS
from kg_pipeline.defs.resources import ModelEndpoint, ModelRegistry
from kg_pipeline.store.config import ConfigStore, ModelConfig, ModelOptions

# A cloud baseline nobody answers at; without OPENAI_API_KEY it is never called.
NO_CLOUD = ModelEndpoint(name="c", provider="openai", base_url="http://127.0.0.1:9", model="gpt-4o")


def register_model(
    name: str,
    base_url: str,
    model: str = "m",
    provider: str = "vllm",
    active: bool = True,
    options: dict[str, Any] | None = None,
    **columns: Any,
) -> ModelConfig:
    config = ModelConfig(
        name=name,
        provider=provider,  # type: ignore[arg-type]
        model_name=model,
        base_url=base_url,
        active=active,
        options=ModelOptions(**(options or {})),
        **columns,
    )
    return ConfigStore().save(config, updated_by="test")


def materialize_partition(
    assets: Sequence[dg.AssetsDefinition],
    partition: str,
    run_config: dg.RunConfig | None = None,
    instance: dg.DagsterInstance | None = None,
    cloud: ModelEndpoint = NO_CLOUD,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    if instance is None:
        # Closed afterwards (see the dagster_instance fixture for why).
        with dg.DagsterInstance.ephemeral() as ephemeral:
            return materialize_partition(
                assets, partition, run_config, ephemeral, cloud, raise_on_error
            )
    if partition not in instance.get_dynamic_partitions(MODEL_PARTITIONS):
        instance.add_dynamic_partitions(MODEL_PARTITIONS, [partition])
    return dg.materialize(
        assets,
        partition_key=partition,
        instance=instance,
        resources={"model_registry": ModelRegistry(), CLOUD_BASELINE_KEY: cloud},
        run_config=run_config,
        raise_on_error=raise_on_error,
    )
