"""The provider for the next chunk, rebuilt whenever its stored configuration changes.

This is how `kg admin extraction reload` takes effect without restarting anything: before each
chunk the extraction loop asks ``current()``, which compares the row's version (id and
``updated_at``, one indexed query) with the one it built from. Calls already in flight finish on
the provider they started with; that provider is closed at the end of the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kg_pipeline.providers.base import ExtractionProvider
from kg_pipeline.store.config import ConfigStore, ModelConfig, Purpose


@dataclass(frozen=True)
class Switch:
    """A (re)build: which configuration, and when (``time.time()``) it took effect."""

    name: str
    model: str
    version: str
    at: float


class LiveProvider:
    """``name`` follows one registered model; without it, whichever model is active for
    ``purpose`` (switching models mid-run)."""

    def __init__(
        self,
        store: ConfigStore,
        build: Callable[[ModelConfig], ExtractionProvider],
        name: str | None = None,
        purpose: Purpose = "extraction",
        on_switch: Callable[[Switch], None] | None = None,
    ) -> None:
        self.store = store
        self.build = build
        self.name = name
        self.purpose = purpose
        self.on_switch = on_switch
        self.switches: list[Switch] = []
        self.built: list[ExtractionProvider] = []
        self._version: str | None = None

    def config(self) -> ModelConfig:
        return self.store.get(self.name) if self.name else self.store.active(self.purpose)

    def current(self) -> ExtractionProvider:
        if self.built and self.store.version(self.name, self.purpose) == self._version:
            return self.built[-1]
        config = self.config()
        self.built.append(self.build(config))
        self._version = config.version()
        switch = Switch(config.name, config.model_name, self._version, time.time())
        self.switches.append(switch)
        if self.on_switch is not None and len(self.switches) > 1:
            self.on_switch(switch)
        return self.built[-1]

    async def aclose(self) -> None:
        for provider in self.built:
            await provider.aclose()
