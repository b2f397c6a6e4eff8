"""What every `kg` command group shares: ending a command with an error a person can read, the
configuration store and the Dagster instance the commands open, and asking a server what it
serves."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click
import dagster as dg

from kg_pipeline.defs.registry import ensure_registered
from kg_pipeline.providers import create_provider
from kg_pipeline.providers.base import EndpointSettings
from kg_pipeline.store.config import ConfigStore, ModelConfig
from kg_pipeline.store.database import database_url


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` in red on stderr and exit with status 1."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


def dagster_instance() -> dg.DagsterInstance | None:
    """The instance named by DAGSTER_HOME, or the project's own ``dagster_home`` when run from
    a checkout; None when there is neither (partitions are then added by the sensor)."""
    if not os.environ.get("DAGSTER_HOME"):
        project = Path("dagster_home")
        if not (project / "dagster.yaml").is_file():
            return None
        os.environ["DAGSTER_HOME"] = str(project.resolve())
    return dg.DagsterInstance.get()


def open_store() -> ConfigStore:
    try:
        store = ConfigStore()
        ensure_registered(store)
    except Exception as exc:  # a database that cannot be reached: say which, and stop
        fail(f"cannot open the configuration store at {_safe_url()}: {exc}")
    return store


def _safe_url() -> str:
    url = database_url()
    if "@" in url:  # user:password@host — the password is not for terminals or logs
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


async def served_models(config: ModelConfig | EndpointSettings) -> list[str]:
    settings = config.settings() if isinstance(config, ModelConfig) else config
    provider = create_provider(settings)
    try:
        return await provider.list_models()
    finally:
        await provider.aclose()
