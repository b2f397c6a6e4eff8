"""Provider registry: the only place that maps a provider name to a wire protocol."""

from __future__ import annotations

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


def create_provider(settings: EndpointSettings) -> ExtractionProvider:
    if settings.provider == "ollama":
        return OllamaProvider(settings)
    if settings.provider == "anthropic":
        return AnthropicProvider(settings)
    return OpenAICompatibleProvider(settings)
