"""Hybrid local -> cloud: try the local endpoint first, and on the configured kinds of failure
ask the fallback endpoint. Every fallback is recorded on the call's statistics (which endpoint
failed, why, how many seconds the failed attempt added, what the fallback call cost), so reports
can give a fallback rate.

When the fallback is asked, so that it arrives in time:

- ``fallback_on_timeout``: once ``local_timeout_seconds`` have passed for the chunk in total —
  attempts, retry backoffs and waits for a down endpoint together — not after every retry has
  run into its own read timeout (with 3 retries of 300 s, that was 20 minutes);
- ``fallback_on_error``: at the first connection failure, which the local endpoint's retries
  raise at once when their policy says ``fail_fast_when_unreachable`` (``provider_stack`` sets it
  for a primary with a fallback on errors); other errors after the local endpoint's own
  recovery (a 500 may be transient, a malformed answer is re-asked).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.contract.pricing import cost_usd
from kg_pipeline.providers.base import (
    CallStats,
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

    async def _ask_primary(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None,
    ) -> ProviderResult:
        if not self.settings.fallback_on_timeout:
            return await self.primary.extract(messages, json_schema, max_output_tokens)
        deadline = self.settings.local_timeout_seconds
        started = time.perf_counter()
        try:
            async with asyncio.timeout(deadline):
                return await self.primary.extract(messages, json_schema, max_output_tokens)
        except TimeoutError:
            raise ProviderUnavailable(
                f"{self.settings.base_url} gave no answer for this chunk within "
                f"local_timeout_seconds ({deadline:g}s, retries included)",
                CallStats(wall_seconds=time.perf_counter() - started),
                timed_out=True,
            ) from None

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        started = time.perf_counter()
        try:
            return await self._ask_primary(messages, json_schema, max_output_tokens)
        except ProviderError as exc:
            kind = failure_kind(exc)
            if not self._falls_back_on(kind):
                raise
            lost = time.perf_counter() - started
            local_error = exc
        try:
            result = await self.fallback.extract(messages, json_schema)
        except ProviderError as exc:
            # The local endpoint's failure is the root cause; the fallback's is what followed.
            exc.args = (
                f"{local_error}; the fallback {self.fallback.settings.name} failed too: {exc}",
            )
            raise
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
