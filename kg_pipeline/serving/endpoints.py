"""Which model endpoints the pipeline extracts with.

With no configuration the pipeline uses the embedded llama.cpp model, so a fresh checkout runs
with nothing else installed. ``KG_ENDPOINTS_FILE`` names a JSON list of endpoints to use instead
(Ollama, vLLM, any OpenAI-compatible server); API keys are never written there, only the name of
the environment variable that holds them (``api_key_env``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from kg_pipeline.errors import KgError
from kg_pipeline.providers.base import ApiKeyVariable, EndpointFields, EndpointSettings
from kg_pipeline.serving.local_model import MODEL_ALIAS
from kg_pipeline.serving.local_server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SLOTS,
    REQUEST_TIMEOUT_SECONDS,
    LocalServer,
)
from kg_pipeline.settings import ENDPOINTS_FILE


class EndpointsError(KgError, ValueError):
    pass


class EndpointEntry(EndpointFields, ApiKeyVariable):
    """An endpoint as written in the endpoints file: its fields, the variable holding its key."""

    manage_local_server: bool = Field(
        default=False,
        description="Start the embedded llama.cpp server at base_url if nothing answers there.",
    )


DEFAULT_ENDPOINT = EndpointEntry(
    name="local-qwen2.5-coder-0.5b",
    provider="llamacpp",
    base_url=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
    model=MODEL_ALIAS,
    # As many in flight as the server started by `kg local start` has slots, and as long a wait
    # as it may take to answer: the endpoint's Dagster pool then matches the server.
    max_concurrent_requests=DEFAULT_SLOTS,
    timeout_seconds=REQUEST_TIMEOUT_SECONDS,
    manage_local_server=True,
)


class _EndpointList(BaseModel):
    endpoints: list[EndpointEntry]


def load_endpoints(path: str | Path | None = None) -> list[EndpointEntry]:
    file = path or ENDPOINTS_FILE.get()
    if not file:
        return [DEFAULT_ENDPOINT]
    try:
        raw: Any = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EndpointsError(
            f"cannot read endpoints file {file} ({ENDPOINTS_FILE.name}): {exc}"
        ) from exc
    try:
        entries = _EndpointList.model_validate({"endpoints": raw}).endpoints
    except ValidationError as exc:
        raise EndpointsError(f"endpoints file {file} is invalid: {exc}") from exc
    names = [e.name for e in entries]
    if not entries or len(set(names)) != len(names):
        raise EndpointsError(f"endpoints file {file} must list endpoints with unique names")
    return entries


def benchmark_target(
    base_url: str | None = None,
    model: str | None = None,
    provider: str = "llamacpp",
    name: str | None = None,
) -> EndpointSettings:
    """The endpoint a benchmark measures: the server given, or else the embedded model (started
    if it is not running). Validated like any endpoint, so a mistyped provider fails here."""
    fields = DEFAULT_ENDPOINT.model_dump(include=set(EndpointFields.model_fields))
    if base_url is None:
        LocalServer(port=DEFAULT_PORT).start()
    elif not model:
        raise EndpointsError(f"name the model served at {base_url} (--model)")
    else:
        fields |= {
            "base_url": base_url,
            "model": model,
            "provider": provider,
            "name": name or model,
        }
    return EndpointSettings(**fields)
