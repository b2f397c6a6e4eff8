"""Anthropic's Messages API (``POST /v1/messages``): Claude as a cloud baseline or fallback.

Claude has no ``response_format``. Schema-shaped JSON comes from tool use instead: the extraction
schema is offered as the input schema of one tool, ``record_extraction``, and the model is made to
call it; the tool's input is the extraction. An answer given as text instead (possible when
thinking is on, see ``build_request``) is parsed like any other model's text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    ProviderResult,
    ProviderUnavailable,
    ThinkingMode,
)
from kg_pipeline.providers.http import HTTPStatusUnavailable, finish, request_json
from kg_pipeline.providers.registry import provider_spec

log = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"
API_KEY_ENV = provider_spec("anthropic").api_key_env
TOOL_NAME = "record_extraction"
_TOOL_DESCRIPTION = (
    "Record the knowledge graph extracted from the text: its concepts, instances quoting the "
    "text verbatim, and typed relationships between the concepts."
)
# With thinking on the tool cannot be forced, so the system prompt asks for it instead.
_TOOL_INSTRUCTION = (
    f"\n\nGive your answer by calling the {TOOL_NAME} tool once, with that JSON object as its "
    "input."
)
THINKING_BUDGET: dict[ThinkingMode, int] = {
    ThinkingMode.LOW: 1024,
    ThinkingMode.MEDIUM: 4096,
    ThinkingMode.HIGH: 8192,
}
_MIN_THINKING_BUDGET = 1024  # the API rejects smaller budgets
_AUTH_STATUS = frozenset({401, 403})
_OVERLOADED = 529  # Anthropic's own status for "overloaded_error"
# Empty text blocks are rejected with HTTP 400; a re-ask replays the model's answer, maybe empty.
_EMPTY_TURN = "(empty answer)"


def thinking_budget(mode: ThinkingMode, max_tokens: int) -> int | None:
    """Tokens the model may think for, or None for no thinking.

    The API wants ``1024 <= budget_tokens < max_tokens``. A small ``max_output_tokens`` can leave
    less room than the mode asks for, so the budget shrinks to half the output (the other half is
    for the answer), and thinking is dropped when even the API minimum would not fit.
    """
    if mode is ThinkingMode.OFF:
        return None
    budget = min(THINKING_BUDGET[mode], max_tokens // 2)
    return budget if budget >= _MIN_THINKING_BUDGET else None


def conversation(messages: PromptMessages) -> list[dict[str, str]]:
    """The chat without its system turn, which the Messages API takes as a top-level field."""
    return [
        {"role": m["role"], "content": m["content"] or _EMPTY_TURN}
        for m in messages.chat()
        if m["role"] != "system"
    ]


class AnthropicProvider:
    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if settings.api_key is not None:
            headers["x-api-key"] = settings.api_key.get_secret_value()
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=settings.connect_timeout_seconds
            ),
        )

    def build_request(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> dict[str, Any]:
        s = self.settings
        max_tokens = max_output_tokens or s.output_budget
        budget = thinking_budget(s.thinking_mode, max_tokens)
        # No seed: the Messages API has none, so Claude runs cannot be repeated exactly.
        payload: dict[str, Any] = {
            "model": s.model,
            "max_tokens": max_tokens,
            "system": messages.system,
            "messages": conversation(messages),
            "tools": [
                {"name": TOOL_NAME, "description": _TOOL_DESCRIPTION, "input_schema": json_schema}
            ],
        }
        if budget is None:
            # Anthropic advises changing temperature or top_p, not both; temperature is the knob
            # the other providers' runs are compared on, so top_p is left at the API default.
            payload["temperature"] = s.temperature
            payload["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        else:
            # Extended thinking rejects forced tool use (tool_choice "tool"/"any": the API prefills
            # the tool call, leaving no room to think) and any temperature but the default. So the
            # tool is offered with "auto", the system prompt asks for it, and a text answer is
            # parsed as text.
            payload["thinking"] = {"type": "enabled", "budget_tokens": budget}
            payload["tool_choice"] = {"type": "auto"}
            payload["system"] = messages.system + _TOOL_INSTRUCTION
        return payload

    async def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], float]:
        """``request_json`` with Anthropic's failures explained. The key, sent as ``x-api-key``,
        is already cut out of every message there (kg_pipeline/providers/redaction.py)."""
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        try:
            return await request_json(
                self._client, method, path, payload, self.settings.total_timeout_seconds
            )
        except HTTPStatusUnavailable as exc:
            # from None: the explained error says all the original did.
            raise self._explained(exc, f"{self._client.base_url}{path}", key) from None

    def _explained(self, error: HTTPStatusUnavailable, url: str, key: str) -> ProviderUnavailable:
        body = error.body
        status = error.status_code
        if status in _AUTH_STATUS:
            sent = "the API key was refused" if key else "no API key was sent"
            return ProviderUnavailable(
                f"{url} answered HTTP {status}: {sent} ({body}); set {API_KEY_ENV} (or the "
                "variable named by the endpoint's api_key_env) to a valid key from "
                "https://console.anthropic.com, with access to model "
                f"{self.settings.model!r}",
                status_code=status,
            )
        if status == _OVERLOADED:
            return ProviderUnavailable(
                f"{url} answered HTTP 529: Anthropic's API is overloaded; retry later or set a "
                f"fallback_endpoint ({body})",
                status_code=status,
                retry_after=error.retry_after,
            )
        return HTTPStatusUnavailable(url, status or 0, body, error.retry_after)

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        payload = self.build_request(messages, json_schema, max_output_tokens)
        body, elapsed = await self._request("POST", "/v1/messages", payload)
        blocks = [b for b in body.get("content") or [] if isinstance(b, dict)]
        tool_inputs = [
            b.get("input")
            for b in blocks
            if b.get("type") == "tool_use" and b.get("name") == TOOL_NAME
        ]
        text = "".join(b.get("text") or "" for b in blocks if b.get("type") == "text")
        thinking = "".join(b.get("thinking") or "" for b in blocks if b.get("type") == "thinking")
        if thinking:
            log.info("%s thinking: %s", self.settings.model, thinking[:200])
        # The tool input is already parsed JSON; dumping it back lets the one parser validate it
        # and keeps the raw answer for a re-ask.
        content = json.dumps(tool_inputs[0], ensure_ascii=False) if tool_inputs else text
        usage = body.get("usage") or {}
        stats = CallStats(
            prompt_tokens=_prompt_tokens(usage),
            completion_tokens=usage.get("output_tokens"),
            wall_seconds=elapsed,
            finish_reason=body.get("stop_reason"),
            raw_text=content,
            thinking_excerpt=thinking[:200] or None,
            request_options={k: payload[k] for k in ("temperature", "max_tokens") if k in payload}
            | {
                "tool_choice": payload["tool_choice"]["type"],
                "thinking_budget_tokens": payload.get("thinking", {}).get("budget_tokens"),
            },
        )
        return finish(content, stats, stats.finish_reason == "max_tokens", thinking)

    async def list_models(self) -> list[str]:
        # The list is paged (20 by default); 1000 is the API's largest page.
        body, _ = await self._request("GET", "/v1/models?limit=1000")
        return [m["id"] for m in body.get("data", []) if "id" in m]

    async def aclose(self) -> None:
        await self._client.aclose()


def _prompt_tokens(usage: dict[str, Any]) -> int | None:
    """``input_tokens`` leaves out tokens written to or read from the prompt cache."""
    counts = [
        usage.get(k)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    if counts[0] is None:
        return None
    return sum(c for c in counts if isinstance(c, int))
