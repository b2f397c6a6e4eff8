"""The one small interface every model server sits behind, and the errors it raises.

Retries, caching and fallback (later work) wrap this interface; they never reach into a provider,
so a provider only speaks its wire protocol.
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, SecretStr, model_validator

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.contract.schema import Extraction
from kg_pipeline.errors import KgError


class ThinkingMode(StrEnum):
    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# Reasoning tokens count against the output budget, so deeper thinking needs a larger one.
OUTPUT_BUDGET_BY_THINKING: dict[ThinkingMode, int] = {
    ThinkingMode.OFF: 4096,
    ThinkingMode.LOW: 4096,
    ThinkingMode.MEDIUM: 12288,
    ThinkingMode.HIGH: 16384,
}

ProviderName = Literal["ollama", "openai_compatible", "vllm", "llamacpp", "openai", "anthropic"]
# prompt_only: no constrained decoding, for servers or models without a JSON mode
# (supports_json_mode false); the schema is then only in the prompt, and the answer is repaired
# and validated like any other.
StructuredOutputDialect = Literal[
    "auto", "json_schema", "json_object_schema", "gbnf", "prompt_only"
]


class EndpointOptions(BaseModel):
    """How an endpoint is asked and waited for, beyond the model and its temperature: the seed,
    the server's keep-alive and schema dialect, the timeouts, the pacing of retries, and where to
    turn when it fails. A registered model keeps exactly these in its JSON ``options`` (the
    table's columns predate them), so they are declared here once, for both."""

    seed: int | None = Field(
        default=0, description="Sampling seed, so that a benchmark run can be repeated exactly."
    )
    keep_alive: str = Field(default="10m", description="How long Ollama keeps the model loaded.")
    structured_output: StructuredOutputDialect = "auto"
    timeout_seconds: float = Field(
        default=300.0, gt=0, description="Read timeout: longest wait for the server's answer."
    )
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    total_timeout_seconds: float | None = Field(
        default=None, gt=0, description="Cap on one whole request, from connecting to the end."
    )
    retry_backoff_seconds: float = Field(
        default=0.5, gt=0, description="Longest wait before the first retry; doubles each retry."
    )
    cooldown_seconds: float = Field(
        default=5.0, gt=0, description="How long a down endpoint is left alone between tries."
    )
    outage_budget_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Longest a run waits, in all, for a down endpoint to come back; chunks "
        "still waiting then fail as unavailable.",
    )
    fallback_endpoint: str | None = Field(
        default=None, description="Name of the endpoint to use when this one fails."
    )
    fallback_on_error: bool = Field(default=True, description="Fall back on errors.")
    fallback_on_timeout: bool = Field(default=True, description="Fall back on timeouts.")
    local_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="With fallback_on_timeout: the longest one chunk waits for this endpoint, "
        "retries included, before the fallback endpoint is asked.",
    )
    # Sent because the servers' own defaults differ where a request is silent: llama-server 1.0
    # (common/common.h ``penalty_repeat``), llama-cpp-python's server 1.1 (server/types.py),
    # Ollama 1.1, vLLM 1.0; the same model on the same prompt then wrote answers 1.9x as long on
    # llama-server as on llama-cpp-python's server (benchmarks/results/
    # end_to_end-embedded-servers-llama-cpp-python-gbnf.json). 1.1 is what the measured prompt
    # versions were chosen under (benchmarks/results/redocred_quality.json).
    repeat_penalty: float | None = Field(
        default=1.1,
        gt=0,
        le=2.0,
        description="Penalty on tokens repeated within the last 64 (1.0: none), sent to servers "
        "that take one (llama.cpp, vLLM, Ollama); None leaves each server its own default.",
    )


class EndpointFields(EndpointOptions):
    """Everything about an endpoint but its API key, which each holder keeps its own way: the
    settings as a secret read at use, the Dagster resource as an ``EnvVar``, a stored endpoint
    as the name of its variable (``ApiKeyVariable``)."""

    name: str = Field(description="Stable key: partition key of the extractions asset.")
    provider: ProviderName = Field(description="Wire protocol / server kind.")
    base_url: str = Field(description="Server root, e.g. http://gpu-0:11434 for Ollama.")
    model: str = Field(description="Model name as the server knows it.")
    temperature: float = Field(default=0.1, ge=0.0, le=1.0)
    top_p: float = Field(default=0.9, ge=0.0, le=1.0)
    max_output_tokens: int | None = Field(
        default=None, ge=1, description="Defaults to the budget of the thinking mode."
    )
    thinking_mode: ThinkingMode = ThinkingMode.OFF
    gpu_layers: int = Field(default=-1, description="Ollama num_gpu; -1 = as many as fit.")
    num_threads: int | None = Field(default=None, description="Ollama num_thread.")
    max_concurrent_requests: int = Field(default=4, ge=1, le=100)
    max_retries: int = Field(default=3, ge=0, le=20, description="Retries per call.")

    @property
    def output_budget(self) -> int:
        return self.max_output_tokens or OUTPUT_BUDGET_BY_THINKING[self.thinking_mode]


class EndpointSettings(EndpointFields):
    """Everything needed to reach one model on one server."""

    api_key: SecretStr | None = None

    @classmethod
    def from_fields(cls, endpoint: EndpointFields, api_key: SecretStr | None) -> EndpointSettings:
        """``endpoint`` with the key its holder found for it: providers take only settings, and
        each holder (a registered model, the Dagster resource) finds the key its own way."""
        fields = endpoint.model_dump(include=set(EndpointFields.model_fields))
        return cls(**fields, api_key=api_key)


class ApiKeyVariable(BaseModel):
    """How a stored endpoint (a registered model, an endpoints-file entry) names its API key:
    the environment variable that holds it, never the key."""

    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key (never the key)."
    )

    def api_key(self) -> SecretStr | None:
        """The key as the environment holds it now: read at use, so a rotated key is picked up."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return SecretStr(key) if key else None


class CallStats(BaseModel):
    """What one call cost, from the server's own counts where it reports them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    wall_seconds: float
    finish_reason: str | None = None
    # The model's answer as stored: whole up to RAW_TEXT_HEAD + RAW_TEXT_TAIL characters, else
    # its head and tail around a marker (see ``cap_raw_text``), with the full length beside it.
    raw_text: str = ""
    raw_text_chars: int | None = Field(
        default=None, description="Length of the whole answer when raw_text keeps only part."
    )
    thinking_excerpt: str | None = None
    # How the answer had to be forgiven (code fences, text around the JSON, raw control
    # characters), or why it could not be used (empty, no_json, invalid_json, schema).
    repairs: list[str] = Field(default_factory=list)
    parse_failure: str | None = None
    # Recovery, counted separately: HTTP attempts, re-asks with the validation error, retries
    # with a doubled output budget after truncation, and seconds spent waiting between tries.
    attempts: int = 1
    reasks: int = 0
    budget_retries: int = 0
    retry_wait_seconds: float = 0.0
    cached: bool = False  # served from the response cache: no model call was made
    # Set when the primary endpoint failed and the fallback answered: which endpoint failed,
    # why (error | timeout), and the seconds the failed attempt added before the fallback.
    fallback_from: str | None = None
    fallback_reason: str | None = None
    fallback_added_seconds: float = 0.0
    fallback_cost_usd: float | None = None  # None: the fallback model is not in the price table
    # Which replica answered, when the endpoint is a fleet of replicas of one model
    # (middleware/fleet.py): that member's settings.name, so a report can show how work spread.
    served_by: str | None = None
    request_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cap_raw_text(self) -> CallStats:
        """A runaway answer (megabytes of repeated text) would be kept whole in every record,
        cache row and re-ask; its head and tail say what went wrong as well as the whole does.
        Parsing never reads this field: it gets the provider's own copy of the answer (see
        ``providers.http.finish``), so a long valid answer still parses."""
        capped = cap_raw_text(self.raw_text)
        if capped != self.raw_text:
            self.raw_text_chars = self.raw_text_chars or len(self.raw_text)
            self.raw_text = capped
        return self


RAW_TEXT_HEAD = 32 * 1024
RAW_TEXT_TAIL = 8 * 1024
# Room for the marker, so that a capped text is never capped again (a cached row, re-read).
_RAW_TEXT_SLACK = 100


def cap_raw_text(text: str) -> str:
    """``text`` whole when short enough, else its head and tail with a marker saying how many
    characters were left out between them."""
    if len(text) <= RAW_TEXT_HEAD + RAW_TEXT_TAIL + _RAW_TEXT_SLACK:
        return text
    left_out = len(text) - RAW_TEXT_HEAD - RAW_TEXT_TAIL
    marker = f"\n[... {left_out:,} characters left out of {len(text):,} ...]\n"
    return text[:RAW_TEXT_HEAD] + marker + text[-RAW_TEXT_TAIL:]


class ProviderResult(BaseModel):
    extraction: Extraction
    stats: CallStats


class ProviderError(KgError):
    """Base of every failure a provider reports; ``stats`` is set once the server has answered."""

    def __init__(self, message: str, stats: CallStats | None = None) -> None:
        super().__init__(message)
        self.stats = stats


class ProviderUnavailable(ProviderError):
    """The server could not be reached or answered with an HTTP error.

    ``status_code`` is the HTTP status (None when no answer came: refused, reset, timed out);
    ``retry_after`` the seconds the server asked the client to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        stats: CallStats | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message, stats)
        self.status_code = status_code
        self.retry_after = retry_after
        self.timed_out = timed_out


class MalformedOutput(ProviderError):
    """The server answered, but not with a valid extraction; the raw text is in ``stats``."""


class TruncatedOutput(ProviderError):
    """Generation stopped at the output budget before the JSON was complete."""


class ExtractionProvider(Protocol):
    settings: EndpointSettings

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        """One call; ``max_output_tokens`` overrides the endpoint's budget (truncation retry)."""
        ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
