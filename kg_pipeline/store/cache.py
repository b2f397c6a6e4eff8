"""A response cache shared by every server that could have given the same answer.

The key hashes what determines the answer — the kind of provider, the model, the prompt version,
the messages, the schema and the sampling parameters — and nothing about the transport (base URL,
API key, timeouts), so every member of a fleet serving the same model shares the cache. Only valid
extractions are stored: a failure is always retried on the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.contract.schema import Extraction
from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    ExtractionProvider,
    ProviderResult,
)
from kg_pipeline.providers.registry import provider_spec
from kg_pipeline.store.database import response_cache


def provider_kind(settings: EndpointSettings) -> str:
    """Providers that answer the same request the same way share cache entries (the registry's
    ``cache_kind``)."""
    return provider_spec(settings.provider).cache_kind


def cache_key(
    settings: EndpointSettings,
    messages: PromptMessages,
    json_schema: dict[str, Any],
    max_output_tokens: int | None,
) -> str:
    material = {
        "provider_kind": provider_kind(settings),
        "model": settings.model,
        "prompt_version": messages.version,
        "messages": messages.chat(),
        "schema": json_schema,
        "sampling": {
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": settings.seed,
            "max_output_tokens": max_output_tokens or settings.output_budget,
            "thinking_mode": settings.thinking_mode.value,
        },
    }
    encoded = json.dumps(material, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


class CachedProvider:
    """Answers from the cache when it can; otherwise asks the inner provider and stores a valid
    answer. ``hits`` and ``misses`` count this provider's lookups."""

    def __init__(self, inner: ExtractionProvider, engine: sa.Engine) -> None:
        self.inner = inner
        self.settings = inner.settings
        self.engine = engine
        self.hits = 0
        self.misses = 0

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        key = cache_key(self.settings, messages, json_schema, max_output_tokens)
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(response_cache.c.extraction_json, response_cache.c.stats_json).where(
                    response_cache.c.key == key
                )
            ).first()
        if row is not None:
            self.hits += 1
            stats = CallStats.model_validate_json(row.stats_json)
            stats.cached = True
            return ProviderResult(
                extraction=Extraction.model_validate_json(row.extraction_json), stats=stats
            )
        self.misses += 1
        result = await self.inner.extract(messages, json_schema, max_output_tokens)
        if result.stats.fallback_from is None:  # another model's answer is not this model's
            self._store(key, messages, result)
        return result

    def _store(self, key: str, messages: PromptMessages, result: ProviderResult) -> None:
        values = {
            "key": key,
            "provider_kind": provider_kind(self.settings),
            "model": self.settings.model,
            "prompt_version": messages.version,
            "extraction_json": result.extraction.model_dump_json(),
            "stats_json": result.stats.model_dump_json(),
            "created_at": dt.datetime.now(dt.UTC),
        }
        # Another run may have stored the same answer first; the first one stays.
        with contextlib.suppress(sa.exc.IntegrityError), self.engine.begin() as connection:
            connection.execute(sa.insert(response_cache).values(**values))

    async def list_models(self) -> list[str]:
        return await self.inner.list_models()

    async def aclose(self) -> None:
        await self.inner.aclose()
