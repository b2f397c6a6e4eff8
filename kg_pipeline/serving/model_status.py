"""What each model server has loaded, and switching the active model without paying the load
on the first chunk.

The wire details (Ollama's ``/api/ps`` and ``keep_alive: 0``, the OpenAI-compatible
``/v1/models``) live in the provider modules, which answer ``loaded_models``, ``unload`` and
``preload`` with the dataclasses of providers/loaded.py. This module asks every server of a
registered model, reads the GPU totals when the server is on this machine and times a switch step
by step; defs/model_observations.py turns a status into Dagster observations.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit

from kg_pipeline.providers import (
    ExtractionProvider,
    ProviderError,
    ProviderUnavailable,
    create_provider,
)
from kg_pipeline.providers.base import EndpointSettings
from kg_pipeline.providers.loaded import (
    NOT_REPORTED,
    LoadedModel,
    ManagesModels,
    ModelAction,
    Outcome,
)
from kg_pipeline.serving.hardware import Gpu, GpuQueryError, query_gpus

GIB = 1024**3


class ServedModel(Protocol):
    """What status and switching read of a registered model (the configuration store's
    ``ModelConfig`` is one): its names and the servers it runs on. Spelled out here so that
    serving, below the store, needs nothing of it."""

    @property
    def name(self) -> str: ...

    @property
    def provider(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    @property
    def active(self) -> bool: ...

    def replica_settings(self) -> list[tuple[EndpointSettings, int]]: ...


@dataclass(frozen=True)
class ServerStatus:
    base_url: str
    answering: bool
    loaded: list[LoadedModel] = field(default_factory=list)
    error: str | None = None
    note: str | None = None  # why ``loaded`` is empty without an error
    seconds: float = 0.0
    reports_loaded: bool = True  # False for hosted APIs


@dataclass(frozen=True)
class EndpointStatus:
    """A registered model and every server it runs on (the row's own, then its replicas)."""

    name: str
    provider: str
    model: str
    active: bool
    servers: list[ServerStatus]
    gpus: list[Gpu]
    gpu_note: str | None  # why ``gpus`` is empty

    @property
    def answering(self) -> bool:
        return all(s.answering for s in self.servers)

    def configured(self) -> list[LoadedModel]:
        """The configured model, wherever it is loaded."""
        return [m for s in self.servers for m in s.loaded if m.is_model(self.model)]


@dataclass(frozen=True)
class SwitchStep:
    action: Literal["unload", "preload"]
    model: str
    base_url: str
    outcome: Outcome
    detail: str
    seconds: float


@dataclass(frozen=True)
class SwitchReport:
    old: str | None
    new: str
    steps: list[SwitchStep]
    seconds: float

    @property
    def failures(self) -> list[SwitchStep]:
        return [s for s in self.steps if s.outcome == "failed"]

    def summary(self) -> str:
        parts = []
        for s in self.steps:
            if s.outcome == "failed":
                continue  # warnings, printed apart
            if s.action == "unload" and s.outcome == "done":
                parts.append(f"unloaded {s.model} from {s.base_url} in {s.seconds:.2f} s")
            elif s.action == "preload" and s.outcome == "done":
                parts.append(
                    f"preloaded {s.model} in {s.seconds:.2f} s (first chunk will not pay the load)"
                )
            else:
                parts.append(f"{s.action} {s.model} skipped: {s.detail}")
        return "; ".join(parts) or "nothing to unload or preload"


def gib(value: int | None) -> str:
    return f"{value / GIB:.1f} GiB" if value is not None else "?"


def is_local(base_url: str) -> bool:
    """Whether the server runs on this machine, where nvidia-smi sees its GPUs."""
    host = urlsplit(base_url).hostname or ""
    if host in ("localhost", socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open(settings: EndpointSettings) -> ExtractionProvider:
    return create_provider(settings)


async def _server_status(settings: EndpointSettings) -> ServerStatus:

    provider = _open(settings)
    started = time.perf_counter()
    try:
        if isinstance(provider, ManagesModels):
            loaded = await provider.loaded_models()
            note = None if loaded else "nothing loaded"
        else:
            await provider.list_models()  # answering?
            loaded, note = [], "a hosted API: what it has loaded is not reported"
    except ProviderError as exc:
        # An HTTP error is still an answer: the server runs, the request did not work.
        answered = isinstance(exc, ProviderUnavailable) and exc.status_code is not None
        return ServerStatus(
            settings.base_url, answered, error=str(exc), seconds=time.perf_counter() - started
        )
    finally:
        await provider.aclose()
    return ServerStatus(
        settings.base_url,
        True,
        loaded,
        note=note,
        seconds=time.perf_counter() - started,
        reports_loaded=isinstance(provider, ManagesModels),
    )


def _gpus(servers: list[str]) -> tuple[list[Gpu], str | None]:
    if not any(is_local(url) for url in servers):
        return [], "not readable from here: the server is on another machine"
    try:
        tool, gpus = query_gpus()
    except GpuQueryError as exc:
        return [], str(exc)
    if tool is None:
        return [], "none found: neither nvidia-smi nor rocm-smi is on PATH (CPU only)"
    return gpus, None


async def endpoint_status(config: ServedModel) -> EndpointStatus:
    """Ask every server of the model what it has loaded (in parallel: a server that does not
    answer costs its connect timeout once, not once per replica)."""
    settings = [s for s, _ in config.replica_settings()]
    servers = await asyncio.gather(*(_server_status(s) for s in settings))
    gpus, note = await asyncio.to_thread(_gpus, [s.base_url for s in settings])
    return EndpointStatus(
        name=config.name,
        provider=config.provider,
        model=config.model_name,
        active=config.active,
        servers=list(servers),
        gpus=gpus,
        gpu_note=note,
    )


async def _step(
    action: Literal["unload", "preload"], settings: EndpointSettings, model: str
) -> SwitchStep:

    provider = _open(settings)
    started = time.perf_counter()
    try:
        if not isinstance(provider, ManagesModels):
            done = ModelAction("skipped", "a hosted API: it loads models itself")
        elif action == "unload":
            done = await provider.unload(model)
        else:
            done = await provider.preload(model)
    except ProviderError as exc:
        done = ModelAction("failed", str(exc))
    finally:
        await provider.aclose()
    elapsed = time.perf_counter() - started
    return SwitchStep(action, model, settings.base_url, done.outcome, done.detail, elapsed)


async def switch(old: ServedModel | None, new: ServedModel) -> SwitchReport:
    """Unload the previously active model, then preload the new one.

    Unloading first frees the memory the new model needs on a GPU that holds one at a time.
    A server that also serves the new model under the same name keeps it: unloading would
    only make the preload load it again. Every step is timed; a failure is reported, not
    raised, because the switch in the configuration store has already happened.
    """
    started = time.perf_counter()
    new_servers = [s for s, _ in new.replica_settings()]
    keep = {(s.base_url, new.model_name) for s in new_servers}
    steps = []
    if old is not None:
        for settings in (s for s, _ in old.replica_settings()):
            if (settings.base_url, old.model_name) in keep:
                steps.append(
                    SwitchStep(
                        "unload",
                        old.model_name,
                        settings.base_url,
                        "skipped",
                        "the new configuration uses the same model on this server",
                        0.0,
                    )
                )
            else:
                steps.append(await _step("unload", settings, old.model_name))
    for settings in new_servers:
        steps.append(await _step("preload", settings, new.model_name))
    return SwitchReport(old.name if old else None, new.name, steps, time.perf_counter() - started)


def _loaded_text(model: LoadedModel) -> str:
    if model.size_bytes is None:
        memory = model.memory_note or NOT_REPORTED
    else:
        memory = gib(model.size_bytes)
        if model.vram_bytes is not None:
            share = model.vram_bytes / model.size_bytes if model.size_bytes else 0.0
            memory += f", {gib(model.vram_bytes)} in VRAM ({share:.0%})"
    parts = [memory]
    if model.kv_cache_usage is not None:
        parts.append(f"KV cache {model.kv_cache_usage:.0%} used")
    if model.context_length is not None:
        parts.append(f"context {model.context_length}")
    if model.expires_at is not None:
        parts.append(f"until {model.expires_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    return "; ".join(parts)


def status_lines(status: EndpointStatus, limit: int = 10) -> list[str]:
    """The status as lines for a terminal: one block per server, the configured model marked,
    at most ``limit`` loaded models each (a hosted API lists its whole catalogue)."""
    lines = []
    for server in status.servers:
        state = (
            f"answering ({server.seconds * 1000:.0f} ms)" if server.answering else "NOT answering"
        )
        lines.append(f"  server {server.base_url} ({status.provider}): {state}")
        if server.error:
            lines.append(f"    error: {server.error}")
        if server.note:
            lines.append(f"    loaded: {server.note}")
        ordered = sorted(server.loaded, key=lambda m: not m.is_model(status.model))
        for model in ordered[:limit]:
            mark = "  ← configured" if model.is_model(status.model) else ""
            lines.append(f"    {model.name}: {_loaded_text(model)}{mark}")
        if len(ordered) > limit:
            lines.append(f"    … and {len(ordered) - limit} more")
        if (
            server.reports_loaded
            and not server.error
            and not any(m.is_model(status.model) for m in server.loaded)
        ):
            lines.append(f"    {status.model} is not loaded: the first chunk will pay the load")
    if status.gpus:
        for gpu in status.gpus:
            lines.append(f"  GPU: {gpu.name}, {gpu.vram_gib:.1f} GiB total")
    else:
        lines.append(f"  GPU totals: {status.gpu_note}")
    return lines
