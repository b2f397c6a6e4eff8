"""Registered models: the configuration store seen as Dagster partitions.

Every registered model is a partition of ``extractions`` (``models``, a dynamic partitions
definition), so registering a model is all it takes for the nightly benchmark to include it. A
fresh store is seeded with the embedded llama.cpp model — or with the entries of
``KG_ENDPOINTS_FILE`` when that is set, which stays authoritative for the names it lists.
"""

from __future__ import annotations

import dagster as dg

from kg_pipeline.serving.endpoints import EndpointEntry, load_endpoints
from kg_pipeline.settings import ENDPOINTS_FILE
from kg_pipeline.store.config import ConfigStore, ModelConfig, ModelOptions

MODEL_PARTITIONS = "models"
model_partitions = dg.DynamicPartitionsDefinition(name=MODEL_PARTITIONS)


def config_from_entry(entry: EndpointEntry, active: bool = False) -> ModelConfig:
    """An endpoints-file entry as a registered model; its key stays in the variable it names."""
    options = ModelOptions(
        api_key_env=entry.api_key_env, manage_local_server=entry.manage_local_server
    )
    return ModelConfig.from_endpoint(entry, options, active)


def _same(a: ModelConfig, b: ModelConfig) -> bool:
    ignore = {"id", "created_at", "updated_at", "updated_by", "active"}
    return a.model_dump(exclude=ignore) == b.model_dump(exclude=ignore)


def ensure_registered(store: ConfigStore) -> list[ModelConfig]:
    """The registered models, after seeding an empty store and applying the endpoints file."""
    from_file = ENDPOINTS_FILE.get() is not None
    registered = store.list()
    if registered and not from_file:
        return registered
    entries = load_endpoints()
    has_active = any(c.active and c.purpose == "extraction" for c in registered)
    for position, entry in enumerate(entries):
        wanted = config_from_entry(entry, active=position == 0 and not has_active)
        existing = store.find(entry.name)
        if existing is None:
            store.save(wanted, updated_by="endpoints file" if from_file else "default")
        elif not _same(existing, wanted):
            store.save(
                wanted.model_copy(update={"active": existing.active}), updated_by="endpoints file"
            )
    return store.list()


def sync_partitions(instance: dg.DagsterInstance, names: list[str]) -> list[str]:
    """Add the partitions of newly registered models; returns the ones added."""
    known = set(instance.get_dynamic_partitions(MODEL_PARTITIONS))
    missing = [name for name in names if name not in known]
    if missing:
        instance.add_dynamic_partitions(MODEL_PARTITIONS, missing)
    return missing
