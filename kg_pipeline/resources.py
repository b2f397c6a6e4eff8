"""Dagster resources: one per model endpoint (a GPU, a server instance, or the embedded model)."""

import re
from typing import Literal
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field, SecretStr

from kg_pipeline.endpoints import EndpointEntry
from kg_pipeline.local_server import LocalServer
from kg_pipeline.providers import EndpointSettings, ExtractionProvider, create_provider


class ModelEndpoint(dg.ConfigurableResource["ModelEndpoint"]):
    """One model on one server. ``max_concurrent_requests`` bounds the calls in flight to it."""

    name: str = Field(description="Endpoint name; also the partition key of `extractions`.")
    provider: Literal["ollama", "openai_compatible", "vllm", "llamacpp", "openai"] = Field(
        description="Wire protocol / server kind."
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
    structured_output: Literal["auto", "json_schema", "json_object_schema"] = "auto"
    timeout_seconds: float = Field(default=300.0, gt=0, description="Read timeout (seconds).")
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    total_timeout_seconds: float | None = Field(
        default=None, gt=0, description="Cap on one whole request (seconds)."
    )
    max_concurrent_requests: int = Field(default=4, ge=1, le=100)
    max_retries: int = Field(default=3, ge=0, le=20, description="Retries per call.")
    fallback_endpoint: str | None = Field(
        default=None, description="Endpoint (by name) that answers when this one fails."
    )
    fallback_on_error: bool = Field(default=True, description="Fall back on errors.")
    fallback_on_timeout: bool = Field(default=True, description="Fall back on timeouts.")
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
    def from_entry(cls, entry: EndpointEntry) -> "ModelEndpoint":
        fields = entry.model_dump(exclude={"api_key", "api_key_env"})
        api_key = dg.EnvVar(entry.api_key_env) if entry.api_key_env else None
        return cls(**fields, api_key=api_key)


def resource_key(endpoint_name: str) -> str:
    """Resource keys must be identifiers; endpoint names may hold dots and dashes."""
    return "endpoint_" + re.sub(r"\W", "_", endpoint_name)
