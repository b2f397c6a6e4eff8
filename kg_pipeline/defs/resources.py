"""Dagster resources: the model registry (the configuration store, read at run time) and the
endpoint it resolves each registered model to (a GPU, a server instance, or the embedded model)."""

from typing import Literal
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field, SecretStr

from kg_pipeline.providers import EndpointSettings, ExtractionProvider, create_provider
from kg_pipeline.providers.base import EndpointFields
from kg_pipeline.serving.local_server import LocalServer
from kg_pipeline.store.config import ConfigStore, ModelConfig
from kg_pipeline.store.database import create_engine


class ModelEndpoint(EndpointFields, dg.ConfigurableResource["ModelEndpoint"]):
    """One model on one server, configured with the endpoint's own fields (``EndpointFields``)
    and its key. ``max_concurrent_requests`` bounds the calls in flight to it."""

    api_key: str | None = Field(default=None, description="Bearer token; pass as dg.EnvVar.")
    # In run config as the values users write elsewhere ("off", "high"): Dagster would offer a
    # Python enum by its member names ("OFF"). The settings built from it take the enum again.
    thinking_mode: Literal["off", "low", "medium", "high"] = "off"  # type: ignore[assignment]
    manage_local_server: bool = Field(
        default=False,
        description="Start the embedded llama.cpp server at base_url when nothing answers there.",
    )

    @property
    def settings(self) -> EndpointSettings:
        return EndpointSettings.from_fields(self, SecretStr(self.api_key) if self.api_key else None)

    def ensure_server(self, log: dg.DagsterLogManager | None = None) -> None:
        """Bring up the embedded server when this endpoint manages it and it is not running."""
        if not self.manage_local_server:
            return
        url = urlsplit(self.base_url)
        server = LocalServer(host=url.hostname or "127.0.0.1", port=url.port or 80)
        if not server.status().answering:
            if log:
                log.info(f"starting the embedded llama.cpp server at {self.base_url}")
            status = server.start()
            if log:
                log.info(status.describe())

    def create_provider(self) -> ExtractionProvider:
        return create_provider(self.settings)

    @classmethod
    def from_fields(
        cls, endpoint: EndpointFields, api_key: str | None = None, manage_local_server: bool = False
    ) -> "ModelEndpoint":
        """The resource of ``endpoint``; ``api_key`` may be a ``dg.EnvVar``, read at run time.
        (Type checkers see only the resource's own fields in its constructor, not the inherited
        endpoint fields, so code builds one here, from a checked ``EndpointFields``.)"""
        fields = endpoint.model_dump(include=set(EndpointFields.model_fields))
        return cls(**fields, api_key=api_key, manage_local_server=manage_local_server)

    @classmethod
    def from_config(cls, config: ModelConfig) -> "ModelEndpoint":
        """The endpoint of a registered model; its API key is read from the environment now."""
        settings = config.settings()
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return cls.from_fields(settings, key, config.options.manage_local_server)


class ModelRegistry(dg.ConfigurableResource["ModelRegistry"]):
    """The registered models, read from the configuration store when a run needs them (not when
    the code loads), so a model registered or changed from the `kg` CLI is used without
    reloading anything."""

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the configuration store; default: KG_DATABASE_URL, else "
        "the SQLite file in the state folder.",
    )

    def store(self) -> ConfigStore:
        return ConfigStore(create_engine(self.database_url))

    def model(self, name: str | None) -> ModelConfig:
        """The registered model ``name`` (None: the active one), read now; ``ConfigError``
        says how to register or activate one."""
        return self.store().named_or_active(name)

    def endpoint(self, name: str) -> ModelEndpoint:
        return ModelEndpoint.from_config(self.model(name))
