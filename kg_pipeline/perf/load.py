"""Closed-loop load against one endpoint with the real extraction request, streamed, so that time
to first token and inter-token latency can be seen (the pipeline itself does not stream)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from kg_pipeline.perf.stats import LevelResult, RequestTiming
from kg_pipeline.prompts import PromptMessages
from kg_pipeline.providers import EndpointSettings, OllamaProvider, OpenAICompatibleProvider
from kg_pipeline.providers.http import make_client


def streaming_request(
    settings: EndpointSettings, messages: PromptMessages, json_schema: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The extraction request each provider would send, switched to streaming."""
    if settings.provider == "ollama":
        payload = OllamaProvider(settings).build_request(messages, json_schema)
        payload["stream"] = True
        return "/api/chat", payload
    provider = OpenAICompatibleProvider(settings)
    dialect = "json_schema" if provider.dialect == "auto" else provider.dialect
    payload = provider.build_request(messages, json_schema, dialect)
    payload["stream"] = True
    payload["stream_options"] = {"include_usage": True}
    return "/v1/chat/completions", payload


def _parse_line(line: str, ollama: bool) -> tuple[bool, dict[str, Any] | None]:
    """(carries content, usage counts if this line has them)."""
    if ollama:
        if not line.strip():
            return False, None
        event = json.loads(line)
        has_content = bool((event.get("message") or {}).get("content"))
        usage = (
            {"prompt": event.get("prompt_eval_count"), "output": event.get("eval_count")}
            if event.get("done")
            else None
        )
        return has_content, usage
    if not line.startswith("data:") or line.strip() == "data: [DONE]":
        return False, None
    event = json.loads(line[5:])
    choices = event.get("choices") or [{}]
    has_content = bool((choices[0].get("delta") or {}).get("content"))
    usage = event.get("usage")
    return has_content, (
        {"prompt": usage.get("prompt_tokens"), "output": usage.get("completion_tokens")}
        if usage
        else None
    )


async def timed_request(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any], ollama: bool
) -> RequestTiming:
    started = time.perf_counter()
    token_times: list[float] = []
    usage: dict[str, Any] = {}
    try:
        async with client.stream("POST", path, json=payload) as response:
            if response.status_code >= 400:
                await response.aread()
                return RequestTiming(
                    ttft=None,
                    e2el=time.perf_counter() - started,
                    error=f"HTTP {response.status_code}",
                )
            async for line in response.aiter_lines():
                has_content, counts = _parse_line(line, ollama)
                if has_content:
                    token_times.append(time.perf_counter() - started)
                if counts:
                    usage = counts
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        return RequestTiming(
            ttft=None, e2el=time.perf_counter() - started, error=str(exc) or type(exc).__name__
        )
    return RequestTiming(
        ttft=token_times[0] if token_times else None,
        e2el=time.perf_counter() - started,
        token_times=tuple(token_times),
        prompt_tokens=usage.get("prompt"),
        output_tokens=usage.get("output"),
    )


async def run_level(
    settings: EndpointSettings,
    requests: Sequence[tuple[str, dict[str, Any]]],
    concurrency: int,
    warmup: int = 1,
) -> LevelResult:
    """``concurrency`` workers each send their next request as soon as the previous one ends
    (closed loop); the first ``warmup`` requests are sent and not counted."""
    ollama = settings.provider == "ollama"
    client = make_client(settings)
    try:
        for path, payload in requests[:warmup]:
            await timed_request(client, path, payload, ollama)
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        for item in requests[warmup:]:
            queue.put_nowait(item)
        results: list[RequestTiming] = []

        async def worker() -> None:
            while not queue.empty():
                path, payload = queue.get_nowait()
                results.append(await timed_request(client, path, payload, ollama))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return LevelResult(concurrency, time.perf_counter() - started, tuple(results))
    finally:
        await client.aclose()
