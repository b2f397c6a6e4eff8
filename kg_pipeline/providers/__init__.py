"""Providers: one module per wire protocol, and the registry (registry.py) of the provider names
that speak them. ``create_provider`` is the one place a protocol is bound to its class."""

from __future__ import annotations

from collections.abc import Callable

from kg_pipeline.providers.anthropic import AnthropicProvider
from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    ExtractionProvider,
    MalformedOutput,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
    ThinkingMode,
    TruncatedOutput,
)
from kg_pipeline.providers.ollama import OllamaProvider
from kg_pipeline.providers.openai_compatible import OpenAICompatibleProvider
from kg_pipeline.providers.registry import WireProtocol, provider_spec

__all__ = [
    "AnthropicProvider",
    "CallStats",
    "EndpointSettings",
    "ExtractionProvider",
    "MalformedOutput",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "ProviderError",
    "ProviderResult",
    "ProviderUnavailable",
    "ThinkingMode",
    "TruncatedOutput",
    "create_provider",
]

PROTOCOL_CLASSES: dict[WireProtocol, Callable[[EndpointSettings], ExtractionProvider]] = {
    "ollama": OllamaProvider,
    "openai": OpenAICompatibleProvider,
    "anthropic": AnthropicProvider,
}


def create_provider(settings: EndpointSettings) -> ExtractionProvider:
    """The provider for ``settings``: the class of the protocol its provider name speaks."""
    return PROTOCOL_CLASSES[provider_spec(settings.provider).protocol](settings)
