"""Hold a slot of the server's pool for the length of each call.

The pool itself (where slots live, how they are claimed and freed) is not this module's business:
it is handed in as anything with a ``slot()`` async context manager, so providers stay free of
Dagster (kg_pipeline/defs/pools.py backs it with the Dagster instance's pools).

Wrap the server's own provider, inside the retries (``ResilientProvider(PooledProvider(...))``):
a call waiting out a retry backoff or a cooldown then holds no slot, and a cached answer (the
cache sits outermost) never asks for one.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.providers.base import EndpointSettings, ExtractionProvider, ProviderResult


class SlotPool(Protocol):
    """Where one server's slots are counted; ``key`` names it in logs."""

    @property
    def key(self) -> str: ...

    def slot(self) -> AbstractAsyncContextManager[object]:
        """Waits for a free slot, holds it while the block runs, and frees it on any exit."""
        ...


class PooledProvider:
    """An ExtractionProvider whose every call holds one slot of ``pool`` while it runs."""

    def __init__(self, inner: ExtractionProvider, pool: SlotPool) -> None:
        self.inner = inner
        self.pool = pool
        self.settings: EndpointSettings = inner.settings
        # Seconds calls spent queued for a slot, summed: how much the pool held this run back.
        self.waited_seconds = 0.0

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        queued = time.perf_counter()
        async with self.pool.slot():
            self.waited_seconds += time.perf_counter() - queued
            return await self.inner.extract(messages, json_schema, max_output_tokens)

    async def list_models(self) -> list[str]:
        # A model listing costs the server nothing worth a slot.
        return await self.inner.list_models()

    async def aclose(self) -> None:
        await self.inner.aclose()
