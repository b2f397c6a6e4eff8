"""Dagster resources: the model registry (the configuration store, read at run time) and the
endpoint it resolves each registered model to (a GPU, a server instance, or the embedded model)."""

from typing import Literal
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field, SecretStr

from kg_pipeline.providers import EndpointSettings, ExtractionProvider, create_provider
from kg_pipeline.providers.base import StructuredOutputDialect
from kg_pipeline.serving.local_server import LocalServer
from kg_pipeline.store.config import ConfigStore, ModelConfig
from kg_pipeline.store.database import create_engine


class ModelEndpoint(dg.ConfigurableResource["ModelEndpoint"]):
    """One model on one server. ``max_concurrent_requests`` bounds the calls in flight to it."""

    name: str = Field(description="Endpoint name; also the partition key of `extractions`.")
    provider: Literal["ollama", "openai_compatible", "vllm", "llamacpp", "openai", "anthropic"] = (
        Field(description="Wire protocol / server kind.")
    )
    base_url: str = Field(description="Server root, e.g. http://gpu-0:11434 for Ollama.")
    model: str = Field(description="Model name as the server knows it.")
    api_key: str | None = Field(default=None, description="Bearer token; pass as dg.EnvVar.")
    temperature: float = Field(default=0.1, ge=0.0, le=1.0)
    top_p: float = Field(default=0.9, ge=0.0, le=1.0)
    seed: int | None = Field(default=0, description="Sampling seed (repeatable runs).")
    max_output_tokens: int | None = Field(default=None, description="Default: by thinking mode.")
    thinking_mode: Literal["off", "low", "medium", "high"] = "off"
    gpu_layers: int = Field(default=-1, description="Ollama num_gpu; -1 = as many as fit.")
    num_threads: int | None = Field(default=None, description="Ollama num_thread.")
    keep_alive: str = Field(default="10m", description="How long Ollama keeps the model loaded.")
    structured_output: StructuredOutputDialect = "auto"
    timeout_seconds: float = Field(default=300.0, gt=0, description="Read timeout (seconds).")
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    total_timeout_seconds: float | None = Field(
        default=None, gt=0, description="Cap on one whole request (seconds)."
    )
    max_concurrent_requests: int = Field(default=4, ge=1, le=100)
    max_retries: int = Field(default=3, ge=0, le=20, description="Retries per call.")
    retry_backoff_seconds: float = Field(
        default=0.5, gt=0, description="Longest wait before the first retry; doubles each retry."
    )
    cooldown_seconds: float = Field(
        default=5.0, gt=0, description="How long a down endpoint is left alone between tries."
    )
    outage_budget_seconds: float = Field(
        default=300.0, ge=0, description="Longest a run waits, in all, for a down endpoint."
    )
    fallback_endpoint: str | None = Field(
        default=None, description="Endpoint (by name) that answers when this one fails."
    )
    fallback_on_error: bool = Field(default=True, description="Fall back on errors.")
    fallback_on_timeout: bool = Field(default=True, description="Fall back on timeouts.")
    local_timeout_seconds: float = Field(
        default=300.0, gt=0, description="Seconds per chunk, retries included, before falling back."
    )
    manage_local_server: bool = Field(
        default=False,
        description="Start the embedded llama.cpp server at base_url when nothing answers there.",
    )

    @property
    def settings(self) -> EndpointSettings:
        return EndpointSettings(
            **self.model_dump(exclude={"api_key", "manage_local_server"}),
            api_key=SecretStr(self.api_key) if self.api_key else None,
        )

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
    def from_config(cls, config: ModelConfig) -> "ModelEndpoint":
        """The endpoint of a registered model; its API key is read from the environment now."""
        settings = config.settings()
        fields = settings.model_dump(mode="json", exclude={"api_key"})
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return cls(
            **fields,
            api_key=key,
            manage_local_server=config.options.manage_local_server,
        )


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

    def endpoint(self, name: str) -> ModelEndpoint:
        return ModelEndpoint.from_config(self.store().get(name))
