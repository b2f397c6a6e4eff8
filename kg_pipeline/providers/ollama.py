"""Ollama's native API (``/api/chat``): the one that exposes num_ctx, num_gpu and keep_alive."""

from __future__ import annotations

import logging
import math
from typing import Any

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    ProviderResult,
    ThinkingMode,
    TruncatedOutput,
)
from kg_pipeline.providers.http import finish, make_client, request_json
from kg_pipeline.providers.loaded import LoadedModel, ModelAction, as_int, parse_timestamp

log = logging.getLogger(__name__)

# Tokens per UTF-8 byte never exceed ~1/3 for the tokenizers Ollama ships (CJK: 3 bytes, ~1 token),
# so bytes / 3 over-estimates the prompt and num_ctx is never too small for it.
_BYTES_PER_TOKEN_FLOOR = 3
_CTX_GRANULARITY = 1024


def think_value(model: str, mode: ThinkingMode) -> bool | str:
    """gpt-oss cannot switch reasoning off, only down to "low"; other models take a boolean."""
    if model.split("/")[-1].startswith("gpt-oss"):
        return ThinkingMode.LOW.value if mode is ThinkingMode.OFF else mode.value
    return mode is not ThinkingMode.OFF


def context_size(messages: PromptMessages, schema_bytes: int, output_budget: int) -> int:
    prompt_bytes = len(messages.text.encode("utf-8")) + schema_bytes
    needed = math.ceil(prompt_bytes / _BYTES_PER_TOKEN_FLOOR) + output_budget + 64
    return math.ceil(needed / _CTX_GRANULARITY) * _CTX_GRANULARITY


class OllamaProvider:
    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self._client = make_client(settings)

    def build_request(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> dict[str, Any]:
        s = self.settings
        budget = max_output_tokens or s.output_budget
        options: dict[str, Any] = {
            "temperature": s.temperature,
            "top_p": s.top_p,
            "num_predict": budget,
            "num_ctx": context_size(messages, len(str(json_schema)), budget),
        }
        if s.seed is not None:
            options["seed"] = s.seed
        if s.repeat_penalty is not None:
            options["repeat_penalty"] = s.repeat_penalty
        if s.num_threads is not None:
            options["num_thread"] = s.num_threads
        if s.gpu_layers >= 0:  # -1 means "as many as fit", which is Ollama's own default
            options["num_gpu"] = s.gpu_layers
        request = {
            "model": s.model,
            "messages": messages.chat(),
            "stream": False,
            "format": json_schema,
            "think": think_value(s.model, s.thinking_mode),
            "keep_alive": s.keep_alive,
            "options": options,
        }
        if s.structured_output == "prompt_only":
            del request["format"]
        return request

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        payload = self.build_request(messages, json_schema, max_output_tokens)
        body, elapsed = await request_json(
            self._client, "POST", "/api/chat", payload, self.settings.total_timeout_seconds
        )
        message = body.get("message") or {}
        content = message.get("content") or ""
        thinking = message.get("thinking") or ""
        if thinking:
            log.info("%s thinking: %s", self.settings.model, thinking[:200])
        stats = CallStats(
            prompt_tokens=body.get("prompt_eval_count"),
            completion_tokens=body.get("eval_count"),
            wall_seconds=elapsed,
            finish_reason=body.get("done_reason"),
            raw_text=content,
            thinking_excerpt=thinking[:200] or None,
            request_options=payload["options"] | {"think": payload["think"]},
        )
        num_ctx = payload["options"]["num_ctx"]
        if (
            stats.prompt_tokens is not None
            and stats.prompt_tokens + payload["options"]["num_predict"] > num_ctx
        ):
            # Ollama drops the start of a prompt that does not fit num_ctx without saying so.
            raise TruncatedOutput(
                f"the prompt took {stats.prompt_tokens} tokens of num_ctx {num_ctx}, leaving "
                "less than the output budget: the context estimate was too small for this "
                "model's tokenizer; lower max_output_tokens or shorten the chunks",
                stats,
            )
        return finish(content, stats, stats.finish_reason == "length", thinking)

    async def list_models(self) -> list[str]:
        body, _ = await request_json(self._client, "GET", "/api/tags")
        return [m["name"] for m in body.get("models", []) if "name" in m]

    async def loaded_models(self) -> list[LoadedModel]:
        """What Ollama holds in memory now (``/api/ps``): the size, the part of it in VRAM (the
        rest runs on the CPU, much slower) and when keep_alive will unload it."""
        body, _ = await request_json(self._client, "GET", "/api/ps")
        return [
            LoadedModel(
                name=m.get("name") or m["model"],
                endpoint=self.settings.base_url,
                size_bytes=as_int(m.get("size")),
                vram_bytes=as_int(m.get("size_vram")),
                expires_at=parse_timestamp(m.get("expires_at")),
                context_length=as_int(m.get("context_length")),
            )
            for m in body.get("models", [])
            if m.get("name") or m.get("model")
        ]

    async def unload(self, model: str) -> ModelAction:
        """A chat with no messages and keep_alive 0 is Ollama's documented unload: the memory
        is freed now rather than when the model's keep_alive runs out."""
        payload = {"model": model, "messages": [], "keep_alive": 0, "stream": False}
        body, _ = await request_json(self._client, "POST", "/api/chat", payload)
        return ModelAction("done", f"unloaded ({body.get('done_reason') or 'no reason given'})")

    async def preload(self, model: str, keep_alive: str | None = None) -> ModelAction:
        """A chat with no messages loads the model and answers once it is in memory, so the
        first real chunk does not wait for the load; keep_alive (default: the endpoint's) keeps
        it there."""
        kept = keep_alive or self.settings.keep_alive
        payload = {"model": model, "messages": [], "keep_alive": kept, "stream": False}
        body, _ = await request_json(self._client, "POST", "/api/chat", payload)
        reason = body.get("done_reason") or "no reason given"
        return ModelAction("done", f"loaded ({reason}), kept for {kept}")

    async def aclose(self) -> None:
        await self._client.aclose()
