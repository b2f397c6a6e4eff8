"""Hybrid local -> cloud: try the local endpoint first, and on the configured kinds of failure
ask the fallback endpoint. Every fallback is recorded on the call's statistics (which endpoint
failed, why, how many seconds the failed attempt added, what the fallback call cost), so reports
can give a fallback rate."""

from __future__ import annotations

import time
from typing import Any

from kg_pipeline.pricing import cost_usd
from kg_pipeline.prompts import PromptMessages
from kg_pipeline.providers.base import (
    ExtractionProvider,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
)


def failure_kind(error: ProviderError) -> str:
    return "timeout" if isinstance(error, ProviderUnavailable) and error.timed_out else "error"


class FallbackProvider:
    def __init__(self, primary: ExtractionProvider, fallback: ExtractionProvider) -> None:
        self.primary = primary
        self.fallback = fallback
        self.settings = primary.settings
        self.fallbacks = 0

    def _falls_back_on(self, kind: str) -> bool:
        return (
            self.settings.fallback_on_timeout
            if kind == "timeout"
            else self.settings.fallback_on_error
        )

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        started = time.perf_counter()
        try:
            return await self.primary.extract(messages, json_schema, max_output_tokens)
        except ProviderError as exc:
            kind = failure_kind(exc)
            if not self._falls_back_on(kind):
                raise
            lost = time.perf_counter() - started
        result = await self.fallback.extract(messages, json_schema)
        self.fallbacks += 1
        result.stats.fallback_from = self.settings.name
        result.stats.fallback_reason = kind
        result.stats.fallback_added_seconds = lost
        result.stats.fallback_cost_usd = cost_usd(
            self.fallback.settings.model,
            result.stats.prompt_tokens,
            result.stats.completion_tokens,
        )
        return result

    async def list_models(self) -> list[str]:
        return await self.primary.list_models()

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.fallback.aclose()
