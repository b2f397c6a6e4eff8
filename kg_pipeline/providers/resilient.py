"""Retries, re-asks and truncation recovery around any provider.

Wraps the provider interface rather than living in each provider, so Ollama, vLLM, llama.cpp and
cloud endpoints recover the same way:

- transport failures (refused, reset, timed out) and HTTP 408, 409, 429, 5xx are retried with
  exponential backoff and full jitter, honouring ``Retry-After``, up to ``max_retries``;
- after ``allowed_fails`` consecutive failed calls the endpoint cools down for ``cooldown_seconds``
  (LiteLLM's ``allowed_fails`` / ``cooldown_time``): calls fail at once instead of hammering it;
- an answer that is not a valid extraction is re-asked once, with the validation error;
- an answer cut off at the output budget is retried with double the budget, up to a cap.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kg_pipeline.prompts import PromptMessages
from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    ExtractionProvider,
    MalformedOutput,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
    TruncatedOutput,
)

# 529: Anthropic's "overloaded", a transient capacity answer like 503.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    max_output_tokens_cap: int = 16384
    reasks: int = 1
    allowed_fails: int = 5
    cooldown_seconds: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return rng.uniform(0.0, min(self.max_delay_seconds, self.base_delay_seconds * 2**attempt))


def is_retryable(error: ProviderUnavailable) -> bool:
    return error.status_code is None or error.status_code in RETRYABLE_STATUS


class ResilientProvider:
    """An ExtractionProvider that recovers from what a long run meets."""

    def __init__(
        self,
        inner: ExtractionProvider,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.settings: EndpointSettings = inner.settings
        self.policy = policy or RetryPolicy(max_retries=inner.settings.max_retries)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._consecutive_failures = 0
        self._cooldown_until = 0.0

    @property
    def cooldown_remaining(self) -> float:
        """Seconds until this endpoint takes calls again (0: now), so a fleet can send the next
        chunk to another replica instead of one that would fail at once."""
        return max(0.0, self._cooldown_until - time.monotonic())

    async def _call_with_retries(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        budget: int | None,
        tally: dict[str, float],
    ) -> ProviderResult:
        attempt = 0
        while True:
            if time.monotonic() < self._cooldown_until:
                raise ProviderUnavailable(
                    f"{self.settings.base_url} is cooling down after "
                    f"{self._consecutive_failures} consecutive failures; retry after "
                    f"{self._cooldown_until - time.monotonic():.0f}s"
                )
            tally["attempts"] += 1
            try:
                result = await self.inner.extract(messages, json_schema, budget)
            except ProviderUnavailable as exc:
                self._record_failure()
                if not is_retryable(exc) or attempt >= self.policy.max_retries:
                    raise
                wait = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else self.policy.backoff(attempt, self._rng)
                )
                tally["wait"] += wait
                await self._sleep(wait)
                attempt += 1
                continue
            self._consecutive_failures = 0
            return result

    def _record_failure(self) -> None:
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.policy.allowed_fails:
            self._cooldown_until = time.monotonic() + self.policy.cooldown_seconds

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        tally = {"attempts": 0.0, "wait": 0.0, "reasks": 0.0, "budget_retries": 0.0}
        budget = max_output_tokens or self.settings.output_budget
        current = messages
        while True:
            try:
                result = await self._call_with_retries(current, json_schema, budget, tally)
            except TruncatedOutput as exc:
                if budget >= self.policy.max_output_tokens_cap:
                    raise _with_tally(exc, tally) from None
                budget = min(budget * 2, self.policy.max_output_tokens_cap)
                tally["budget_retries"] += 1
                continue
            except MalformedOutput as exc:
                if tally["reasks"] >= self.policy.reasks or exc.stats is None:
                    raise _with_tally(exc, tally) from None
                tally["reasks"] += 1
                current = current.with_correction(exc.stats.raw_text, str(exc))
                continue
            except ProviderError as exc:
                raise _with_tally(exc, tally) from None
            _apply(result.stats, tally)
            return result

    async def list_models(self) -> list[str]:
        return await self.inner.list_models()

    async def aclose(self) -> None:
        await self.inner.aclose()


def _apply(stats: CallStats, tally: dict[str, float]) -> None:
    stats.attempts = int(tally["attempts"])
    stats.reasks = int(tally["reasks"])
    stats.budget_retries = int(tally["budget_retries"])
    stats.retry_wait_seconds = tally["wait"]


def _with_tally(error: ProviderError, tally: dict[str, float]) -> ProviderError:
    if error.stats is None:
        error.stats = CallStats(wall_seconds=0.0)
    _apply(error.stats, tally)
    return error
