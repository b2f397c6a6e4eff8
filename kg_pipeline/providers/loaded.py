"""What a model server says it holds in memory, and what loading or unloading did: filled by
the providers that can ask their server (Ollama's /api/ps, vLLM's and llama.cpp's /v1/models and
/metrics), read by serving/model_status.py, which reports on every registered model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

NOT_REPORTED = "not reported by this server"


Outcome = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class LoadedModel:
    """One model a server holds in memory. A figure the server does not report is None, never a
    made-up zero; ``memory_note`` then says why."""

    name: str
    endpoint: str
    size_bytes: int | None = None
    vram_bytes: int | None = None
    expires_at: dt.datetime | None = None  # when keep_alive runs out (Ollama)
    context_length: int | None = None
    kv_cache_usage: float | None = None  # 0-1, fraction of KV-cache blocks in use (vLLM)
    memory_note: str | None = None

    def is_model(self, configured: str) -> bool:
        """A name without a tag means its ``:latest`` (Ollama lists ``llama3.2:latest`` for a
        model registered as ``llama3.2``)."""
        return self.name in (configured, f"{configured}:latest")


@dataclass(frozen=True)
class ModelAction:
    """What an unload or preload did, or why nothing was done."""

    outcome: Outcome
    detail: str


@runtime_checkable
class ManagesModels(Protocol):
    """The providers that can say what their server has loaded, and (where the server allows
    it) load and unload. Hosted APIs (Anthropic) do not: loading is their business."""

    async def loaded_models(self) -> list[LoadedModel]: ...

    async def unload(self, model: str) -> ModelAction: ...

    async def preload(self, model: str, keep_alive: str | None = None) -> ModelAction: ...


def as_int(value: object) -> int | None:
    """A count from a JSON body; anything else (missing, a string, a bool) is unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_timestamp(value: object) -> dt.datetime | None:
    """RFC 3339 as servers write it (Go writes nanoseconds and ``Z``); None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
