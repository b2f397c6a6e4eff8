"""A response cache shared by every server that could have given the same answer.

The key hashes what determines the answer — the kind of provider, the model, the prompt version,
the messages, the schema and the sampling parameters — and nothing about the transport (base URL,
API key, timeouts), so every member of a fleet serving the same model shares the cache. Only valid
extractions are stored: a failure is always retried on the next run.

Where answers are kept is not this module's business: it is handed in as a ``ResponseCache``, so
the wrapper stays free of the database (kg_pipeline/store/cache.py keeps them in a table).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.providers.base import EndpointSettings, ExtractionProvider, ProviderResult
from kg_pipeline.providers.registry import provider_spec, sent_repeat_penalty


class ResponseCache(Protocol):
    """Valid answers by key. ``put`` keeps the first answer stored under a key: another run may
    have stored the same answer first."""

    def get(self, key: str) -> ProviderResult | None:
        """The answer stored under ``key``, as it was returned when stored; None if none is."""
        ...

    def put(
        self,
        key: str,
        result: ProviderResult,
        *,
        provider_kind: str,
        model: str,
        prompt_version: str,
    ) -> None:
        """Store ``result`` under ``key``, labelled with what produced it (so that entries can be
        listed and pruned by model or prompt version without decoding the key)."""
        ...


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
    sampling: dict[str, Any] = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "seed": settings.seed,
        "max_output_tokens": max_output_tokens or settings.output_budget,
        "thinking_mode": settings.thinking_mode.value,
    }
    # Only where the request carries it: an endpoint that sends none keeps the keys it had.
    penalty = sent_repeat_penalty(settings)
    if penalty is not None:
        sampling["repeat_penalty"] = penalty
    material = {
        "provider_kind": provider_kind(settings),
        "model": settings.model,
        "prompt_version": messages.version,
        "messages": messages.chat(),
        "schema": json_schema,
        "sampling": sampling,
    }
    encoded = json.dumps(material, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


class CachedProvider:
    """Answers from the cache when it can; otherwise asks the inner provider and stores a valid
    answer. ``hits`` and ``misses`` count this provider's lookups."""

    def __init__(self, inner: ExtractionProvider, cache: ResponseCache) -> None:
        self.inner = inner
        self.settings = inner.settings
        self.cache = cache
        self.hits = 0
        self.misses = 0

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        key = cache_key(self.settings, messages, json_schema, max_output_tokens)
        stored = self.cache.get(key)
        if stored is not None:
            self.hits += 1
            stored.stats.cached = True
            return stored
        self.misses += 1
        result = await self.inner.extract(messages, json_schema, max_output_tokens)
        if result.stats.fallback_from is None:  # another model's answer is not this model's
            self.cache.put(
                key,
                result,
                provider_kind=provider_kind(self.settings),
                model=self.settings.model,
                prompt_version=messages.version,
            )
        return result

    async def list_models(self) -> list[str]:
        return await self.inner.list_models()

    async def aclose(self) -> None:
        await self.inner.aclose()
