"""The provider for the next chunk, rebuilt whenever its stored configuration changes.

This is how `kg admin extraction reload` takes effect without restarting anything: before each
chunk the extraction loop asks ``current()``, which compares the configuration's version (for a
registered model: its row's id and ``updated_at``, one indexed query) with the one it built from.
Calls already in flight finish on the provider they started with; that provider is closed at the
end of the run.

The caller says how to read and version the configuration, so this layer knows nothing of where
it is stored, and hands over the configuration it has already read for the first build.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from kg_pipeline.providers.base import ExtractionProvider


class LiveConfig(Protocol):
    """What the switch needs to know of a configuration: whose it is, and which version."""

    @property
    def name(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    def version(self) -> str: ...


ConfigT = TypeVar("ConfigT", bound=LiveConfig)


@dataclass(frozen=True)
class Switch:
    """A (re)build: which configuration, and when (``time.time()``) it took effect."""

    name: str
    model: str
    version: str
    at: float


class LiveProvider(Generic[ConfigT]):
    """Builds from ``first`` (the configuration the run already read), then from ``read()``
    whenever ``version()`` no longer matches the configuration it last built from."""

    def __init__(
        self,
        first: ConfigT,
        read: Callable[[], ConfigT],
        version: Callable[[], str],
        build: Callable[[ConfigT], ExtractionProvider],
        on_switch: Callable[[Switch], None] | None = None,
    ) -> None:
        self.read = read
        self.version = version
        self.build = build
        self.on_switch = on_switch
        self.switches: list[Switch] = []
        self.built: list[ExtractionProvider] = []
        self._first: ConfigT | None = first
        self._version: str | None = None

    def current(self) -> ExtractionProvider:
        if self.built and self.version() == self._version:
            return self.built[-1]
        config = self._first if self._first is not None else self.read()
        self.built.append(self.build(config))
        self._first = None
        self._version = config.version()
        switch = Switch(config.name, config.model_name, self._version, time.time())
        self.switches.append(switch)
        if self.on_switch is not None and len(self.switches) > 1:
            self.on_switch(switch)
        return self.built[-1]

    async def aclose(self) -> None:
        for provider in self.built:
            await provider.aclose()
