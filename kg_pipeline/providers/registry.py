"""The provider registry: every fact about a provider name, in one table that the rest of the
code derives from (the CLI's choices and defaults, the database's list of known providers, the
default structured-output dialect, the vision request shape, the response-cache kind).

A provider name is a kind of server; a wire protocol is what it speaks. Several names share a
protocol (vLLM, llama.cpp, OpenAI and any OpenAI-compatible server all speak OpenAI's chat
completions) and differ only in the facts below. Each protocol is one module of this package,
bound to its class in ``kg_pipeline.providers.create_provider``. This module imports no protocol
module, so those modules can read their facts here without an import circle.

Adding a provider: see README.md in this folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

from kg_pipeline.errors import KgError
from kg_pipeline.providers.base import EndpointSettings, ProviderName, StructuredOutputDialect
from kg_pipeline.settings import LOCAL_PORT

# The wire protocols this package speaks, one module each: ollama.py, openai_compatible.py,
# anthropic.py (and their image-description shapes in vision.py).
WireProtocol = Literal["ollama", "openai", "anthropic"]
WIRE_PROTOCOLS: tuple[WireProtocol, ...] = get_args(WireProtocol)

# `kg local start` runs llama.cpp's server on this port, and the llamacpp provider's usual address
# is that server. Defined here rather than in serving/local_server.py (which reads it from here)
# because the registry sits below the serving layer.
LOCAL_SERVER_PORT = LOCAL_PORT.get()

_GENERIC_START_HINT = "start the server or correct the URL"


@dataclass(frozen=True)
class ProviderSpec:
    """One provider name and everything the code needs to know about it."""

    name: ProviderName
    protocol: WireProtocol
    # Where the server listens unless told otherwise; None: it has no usual address, so
    # registering a model on it needs an explicit base URL.
    default_base_url: str | None
    # The environment variable a newly registered model reads its API key from; None: no key.
    api_key_env: str | None = None
    # The structured-output dialect an OpenAI-protocol endpoint uses when configured "auto";
    # None for protocols with their own mechanism (Ollama's ``format``, Anthropic's tool use).
    structured_output: StructuredOutputDialect | None = None
    # Providers that answer the same request the same way share response-cache entries. The
    # values are part of every stored cache key: changing one orphans that provider's entries.
    cache_kind: str = "openai_compatible"
    # The request field that carries the endpoint's repeat penalty; None: the server takes none
    # that we know of (OpenAI's API refuses unknown fields), so it is left out.
    repeat_penalty_field: str | None = None
    # Whether the server reports KV-cache usage on /metrics (vLLM's Prometheus gauges).
    kv_cache_metrics: bool = False
    # What the CLI tells a user whose server does not answer, and how to get a missing model
    # ("{model}" is replaced); None: the server cannot fetch models on request.
    start_hint: str = _GENERIC_START_HINT
    pull_hint: str | None = None
    # Put before the derived registry name of a model, so that a model on the embedded server
    # is told apart from the same model on another server.
    registry_name_prefix: str = ""


_SPECS = (
    ProviderSpec(
        name="ollama",
        protocol="ollama",
        default_base_url="http://127.0.0.1:11434",
        cache_kind="ollama",
        # In ``options``, as its API takes every model parameter (docs/api.md, "options").
        repeat_penalty_field="repeat_penalty",
        start_hint="start it with scripts/start-ollama.sh or `ollama serve`",
        pull_hint="pull it with `ollama pull {model}`",
    ),
    ProviderSpec(
        name="vllm",
        protocol="openai",
        default_base_url="http://127.0.0.1:8000",
        structured_output="json_schema",
        # One of vLLM's sampling parameters beyond OpenAI's, taken at the top level of the body
        # (entrypoints/openai/protocol.py, ChatCompletionRequest).
        repeat_penalty_field="repetition_penalty",
        kv_cache_metrics=True,
    ),
    # Any other server of OpenAI's chat-completions API (LM Studio, SGLang, a gateway): the
    # dialect is learnt from its first answer.
    ProviderSpec(
        name="openai_compatible",
        protocol="openai",
        default_base_url=None,
        structured_output="auto",
    ),
    # llama.cpp's llama-server and llama-cpp-python's server: both take a GBNF grammar, which
    # keeps the answer compact (see openai_compatible.py).
    ProviderSpec(
        name="llamacpp",
        protocol="openai",
        default_base_url=f"http://127.0.0.1:{LOCAL_SERVER_PORT}",
        structured_output="gbnf",
        # Both servers take llama.cpp's sampling options in the chat request (tools/server/
        # README.md: "/completion-specific features ... are also supported").
        repeat_penalty_field="repeat_penalty",
        start_hint="start the embedded model with `kg local start`",
        registry_name_prefix="local-",
    ),
    ProviderSpec(
        name="openai",
        protocol="openai",
        default_base_url="https://api.openai.com",
        api_key_env="OPENAI_API_KEY",
        structured_output="json_schema",
    ),
    # Cached as "openai_compatible", as it was before it had a kind of its own: a new kind would
    # orphan every stored Claude answer.
    ProviderSpec(
        name="anthropic",
        protocol="anthropic",
        default_base_url="https://api.anthropic.com",
        api_key_env="ANTHROPIC_API_KEY",
    ),
)

# In the order the CLI lists them.
PROVIDERS: Mapping[str, ProviderSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
PROVIDER_NAMES: tuple[str, ...] = tuple(PROVIDERS)


class UnknownProvider(KgError, ValueError):
    """A provider name the registry does not hold; the message lists the ones it does."""

    def __init__(self, name: object) -> None:
        super().__init__(f"unknown provider {name!r}; choose one of: {', '.join(PROVIDER_NAMES)}")
        self.name = name


def provider_spec(name: str) -> ProviderSpec:
    """The registry's entry for ``name``, or ``UnknownProvider`` naming the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(name) from None


def sent_repeat_penalty(settings: EndpointSettings) -> float | None:
    """The repeat penalty a request to this endpoint carries; None where it carries none (so it
    is no part of what the answer depends on, e.g. for the response cache)."""
    if provider_spec(settings.provider).repeat_penalty_field is None:
        return None
    return settings.repeat_penalty


def speaks(name: str, protocol: WireProtocol) -> bool:
    """Whether provider ``name`` speaks ``protocol``: code that sends a protocol's requests
    itself (the load generator, the embedder) asks this, never the provider's name."""
    return provider_spec(name).protocol == protocol
