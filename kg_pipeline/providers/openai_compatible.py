"""OpenAI's chat-completions API, as served by vLLM, llama.cpp, LM Studio and OpenAI itself.

The servers agree on the request shape but not on structured output: vLLM and OpenAI take
``{"type": "json_schema", ...}``, while llama-cpp-python's server answers that with HTTP 500 and
wants ``{"type": "json_object", "schema": ...}``. The dialect is configured per endpoint; with
``auto`` it is the provider's in the registry (registry.py), and for a generic OpenAI-compatible
server it is detected once, on the first request, and remembered. llama.cpp's servers (both)
get the schema as a grammar of compact JSON (``gbnf``, see gbnf.py): the grammar each builds
from a schema itself lets the model indent, which costs output tokens.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    ProviderResult,
    ProviderUnavailable,
    StructuredOutputDialect,
    ThinkingMode,
)
from kg_pipeline.providers.gbnf import schema_to_gbnf
from kg_pipeline.providers.http import HTTPStatusUnavailable, finish, make_client, request_json
from kg_pipeline.providers.loaded import NOT_REPORTED, LoadedModel, ModelAction, as_int
from kg_pipeline.providers.registry import ProviderSpec, provider_spec, sent_repeat_penalty

log = logging.getLogger(__name__)

# A server that does not understand a response_format says so and names the field: vLLM and
# OpenAI with 400 or 422, llama-cpp-python with 500 (its request validation error, caught by its
# own error handler, names ``response_format``). A status alone proves nothing: a 500 from an
# overloaded server on the first request must not switch the endpoint's dialect for good.
_DIALECT_REJECTED = {400, 422, 500}
_FORMAT_FIELDS = ("response_format", "json_schema")
# vLLM's KV-cache gauge: renamed in the V1 engine, the old name is kept for older servers.
_KV_CACHE_GAUGES = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")


def kv_cache_usage(metrics: str) -> float | None:
    """The fullest engine's KV-cache usage (0-1) from vLLM's Prometheus text, or None."""
    values = []
    for line in metrics.splitlines():
        if line.startswith(_KV_CACHE_GAUGES):
            try:
                values.append(float(line.rsplit(" ", 1)[1]))
            except (IndexError, ValueError):
                continue
    return max(values) if values else None


def rejects_format(error: HTTPStatusUnavailable) -> bool:
    """Whether an error answer says the server does not take the ``json_schema`` format."""
    return error.status_code in _DIALECT_REJECTED and any(f in error.body for f in _FORMAT_FIELDS)


def response_format(
    dialect: StructuredOutputDialect, json_schema: dict[str, Any]
) -> dict[str, Any]:
    if dialect == "json_object_schema":
        return {"type": "json_object", "schema": json_schema}
    return {
        "type": "json_schema",
        "json_schema": {"name": "extraction", "schema": json_schema, "strict": True},
    }


def default_dialect(spec: ProviderSpec) -> StructuredOutputDialect:
    """The dialect an endpoint configured "auto" uses: the registry's, for its provider."""
    if spec.structured_output is None:
        raise ValueError(
            f"provider {spec.name!r} speaks the {spec.protocol} protocol, not OpenAI's chat "
            "completions; build it with kg_pipeline.providers.create_provider"
        )
    return spec.structured_output


class OpenAICompatibleProvider:
    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.spec = provider_spec(settings.provider)
        configured = settings.structured_output
        # The registry's "auto" (openai_compatible) stays "auto": learnt from the first answer.
        self.dialect: StructuredOutputDialect = (
            default_dialect(self.spec) if configured == "auto" else configured
        )
        self._client = make_client(settings)

    def build_request(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        dialect: StructuredOutputDialect,
        max_output_tokens: int | None = None,
    ) -> dict[str, Any]:
        s = self.settings
        payload: dict[str, Any] = {
            "model": s.model,
            "messages": messages.chat(),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": max_output_tokens or s.output_budget,
            "stream": False,
        }
        if dialect == "gbnf":
            payload["grammar"] = schema_to_gbnf(json_schema)
        elif dialect != "prompt_only":
            payload["response_format"] = response_format(dialect, json_schema)
        if s.seed is not None:
            payload["seed"] = s.seed
        penalty = sent_repeat_penalty(s)
        if penalty is not None and self.spec.repeat_penalty_field is not None:
            payload[self.spec.repeat_penalty_field] = penalty
        if s.thinking_mode is not ThinkingMode.OFF:
            payload["reasoning_effort"] = s.thinking_mode.value
        return payload

    async def _send(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        dialect: StructuredOutputDialect,
        budget: int | None,
    ) -> tuple[dict[str, Any], float, dict[str, Any]]:
        payload = self.build_request(messages, json_schema, dialect, budget)
        body, elapsed = await request_json(
            self._client,
            "POST",
            "/v1/chat/completions",
            payload,
            self.settings.total_timeout_seconds,
        )
        return body, elapsed, payload

    async def _post(
        self, messages: PromptMessages, json_schema: dict[str, Any], budget: int | None
    ) -> tuple[dict[str, Any], float, dict[str, Any]]:
        if self.dialect != "auto":
            return await self._send(messages, json_schema, self.dialect, budget)
        try:
            sent = await self._send(messages, json_schema, "json_schema", budget)
            self.dialect = "json_schema"
        except HTTPStatusUnavailable as exc:
            if not rejects_format(exc):
                raise
            log.info(
                "%s rejected response_format json_schema (HTTP %s); using json_object + schema",
                self.settings.base_url,
                exc.status_code,
            )
            sent = await self._send(messages, json_schema, "json_object_schema", budget)
            self.dialect = "json_object_schema"
        return sent

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        body, elapsed, payload = await self._post(messages, json_schema, max_output_tokens)
        choices = body.get("choices") or [{}]
        message = choices[0].get("message") or {}
        content = message.get("content") or ""
        reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        usage = body.get("usage") or {}
        stats = CallStats(
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            wall_seconds=elapsed,
            finish_reason=choices[0].get("finish_reason"),
            raw_text=content,
            thinking_excerpt=reasoning[:200] or None,
            request_options={
                k: payload[k] for k in ("temperature", "top_p", "max_tokens") if k in payload
            }
            | {"response_format": payload.get("response_format", {}).get("type", "none")},
        )
        return finish(content, stats, stats.finish_reason == "length", reasoning)

    async def list_models(self) -> list[str]:
        body, _ = await request_json(self._client, "GET", "/v1/models")
        return [m["id"] for m in body.get("data", []) if "id" in m]

    async def loaded_models(self) -> list[LoadedModel]:
        """The models the server serves, which vLLM and llama.cpp load when they start and hold
        until they stop. llama.cpp's server reports the weights' size (``meta.size``), vLLM its
        context limit (``max_model_len``) and, on ``/metrics``, KV-cache usage; none reports
        VRAM. A llama.cpp router lists models it has not loaded (``status.value``): those are
        left out."""
        body, _ = await request_json(self._client, "GET", "/v1/models")
        kv_usage = await self._kv_cache_usage() if self.spec.kv_cache_metrics else None
        loaded = []
        for entry in body.get("data", []):
            status = entry.get("status")
            if "id" not in entry or (isinstance(status, dict) and status.get("value") != "loaded"):
                continue
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
            size = as_int(meta.get("size"))
            loaded.append(
                LoadedModel(
                    name=entry["id"],
                    endpoint=self.settings.base_url,
                    size_bytes=size,
                    context_length=as_int(entry.get("max_model_len")),
                    kv_cache_usage=kv_usage,
                    memory_note=None if size is not None else NOT_REPORTED,
                )
            )
        return loaded

    async def _kv_cache_usage(self) -> float | None:
        try:
            response = await self._client.get("/metrics")
        except httpx.HTTPError:
            return None
        return kv_cache_usage(response.text) if response.status_code == 200 else None

    async def unload(self, model: str) -> ModelAction:
        """vLLM and llama.cpp's server hold the model they were started with until they stop;
        there is nothing to ask."""
        return ModelAction("skipped", "not supported: the server keeps its model loaded")

    async def preload(self, model: str, keep_alive: str | None = None) -> ModelAction:
        """A server with one model loaded it when it started: it is only checked to serve this
        one. A server listing several loads the one a request names, in place of the last
        (llama-cpp-python with a ``--config_file`` of models, llama.cpp's router): a one-token
        request makes it load now, so the first chunk does not pay the load. Not sent to a
        one-model server: it would evict the cached prompt prefix of the next chunk, which on a
        CPU costs more than the request. ``keep_alive`` has no meaning here."""
        served = await self.list_models()
        if model not in served:
            raise ProviderUnavailable(
                f"{self.settings.base_url} does not serve {model!r} (it serves: "
                f"{', '.join(served) or 'nothing'}); restart it with that model"
            )
        if len(served) == 1:
            return ModelAction("skipped", "already loaded: the server loads its model at start")
        payload = {
            "model": model,
            "messages": [{"role": "user", "content": "ok"}],
            "max_tokens": 1,
            "temperature": 0,
        }
        await request_json(self._client, "POST", "/v1/chat/completions", payload)
        return ModelAction("done", "loaded by a one-token request: the server loads on demand")

    async def aclose(self) -> None:
        await self._client.aclose()
