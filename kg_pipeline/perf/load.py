"""Load against one endpoint with the real extraction request, streamed, so that time to first
token and inter-token latency can be seen (the pipeline itself does not stream).

Two ways to load a server, named as GuideLLM names them: ``concurrent`` (closed loop: N workers,
each sends its next request when the previous one ends, so the server sets the pace) and
``poisson`` (open loop: requests arrive at a target rate whether or not earlier ones finished, as
independent users would; queueing shows up as growing latency instead of falling throughput)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import httpx

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.perf.stats import LevelResult, RequestTiming
from kg_pipeline.providers import EndpointSettings, OllamaProvider, OpenAICompatibleProvider
from kg_pipeline.providers.http import make_client
from kg_pipeline.providers.registry import speaks


def streaming_request(
    settings: EndpointSettings, messages: PromptMessages, json_schema: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The extraction request each provider would send, switched to streaming."""
    if speaks(settings.provider, "ollama"):
        payload = OllamaProvider(settings).build_request(messages, json_schema)
        payload["stream"] = True
        return "/api/chat", payload
    provider = OpenAICompatibleProvider(settings)
    dialect = "json_schema" if provider.dialect == "auto" else provider.dialect
    payload = provider.build_request(messages, json_schema, dialect)
    payload["stream"] = True
    payload["stream_options"] = {"include_usage": True}
    return "/v1/chat/completions", payload


class StreamLine(NamedTuple):
    has_content: bool
    usage: dict[str, Any] | None  # token counts, on the line that carries them
    finished: bool  # the server said why the answer ended


def _parse_line(line: str, ollama: bool) -> StreamLine:
    if ollama:
        if not line.strip():
            return StreamLine(False, None, False)
        event = json.loads(line)
        has_content = bool((event.get("message") or {}).get("content"))
        done = bool(event.get("done"))
        usage = (
            {"prompt": event.get("prompt_eval_count"), "output": event.get("eval_count")}
            if done
            else None
        )
        return StreamLine(has_content, usage, done)
    if not line.startswith("data:") or line.strip() == "data: [DONE]":
        return StreamLine(False, None, False)
    event = json.loads(line[5:])
    choices = event.get("choices") or [{}]
    has_content = bool((choices[0].get("delta") or {}).get("content"))
    usage = event.get("usage")
    return StreamLine(
        has_content,
        {"prompt": usage.get("prompt_tokens"), "output": usage.get("completion_tokens")}
        if usage
        else None,
        choices[0].get("finish_reason") is not None,
    )


# A stream that closes without saying why it ended was cut off: llama-cpp-python's server, for
# one, ends the answer it is streaming with "[DONE]" and no finish_reason as soon as another
# request arrives (its interrupt_requests setting, on by default).
CUT_OFF = "the stream ended without a finish reason: the server cut the answer off"


async def timed_request(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any], ollama: bool
) -> RequestTiming:
    """One streamed request, timed. A request the server dropped before reading it (a kept-alive
    connection it had closed: llama-server does so after some streamed answers, 2 of 12
    sequential requests here, with no task in its log) is sent once more on a new connection and
    timed from there: the server never saw the first, so it is no error of the server's."""
    timing = await _timed_once(client, path, payload, ollama)
    if timing.error == DROPPED_BEFORE_READ:
        timing = await _timed_once(client, path, payload, ollama)
    return timing


# httpx's words for a connection closed before any byte of the answer came back.
DROPPED_BEFORE_READ = "Server disconnected without sending a response."


async def _timed_once(
    client: httpx.AsyncClient, path: str, payload: dict[str, Any], ollama: bool
) -> RequestTiming:
    started = time.perf_counter()
    token_times: list[float] = []
    usage: dict[str, Any] = {}
    finished = False
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
                parsed = _parse_line(line, ollama)
                if parsed.has_content:
                    token_times.append(time.perf_counter() - started)
                if parsed.usage:
                    usage = parsed.usage
                finished = finished or parsed.finished
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
        error=None if finished else CUT_OFF,
    )


async def run_level(
    settings: EndpointSettings,
    requests: Sequence[tuple[str, dict[str, Any]]],
    concurrency: int,
    warmup: int = 1,
) -> LevelResult:
    """``concurrency`` workers each send their next request as soon as the previous one ends
    (closed loop); the first ``warmup`` requests are sent and not counted."""
    ollama = speaks(settings.provider, "ollama")
    client = make_client(settings)
    try:
        await _warm_up(client, requests[:warmup], ollama)
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


async def _warm_up(
    client: httpx.AsyncClient, requests: Sequence[tuple[str, dict[str, Any]]], ollama: bool
) -> None:
    """Sent one after another and not counted: the first requests pay for loading the model and
    filling the prompt cache, which no steady-state figure should include."""
    for path, payload in requests:
        await timed_request(client, path, payload, ollama)


async def warm_up(
    settings: EndpointSettings, requests: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """The warm-up on its own, for callers that measure something (resources) around the
    measured window only and so call run_level/run_rate with ``warmup=0``."""
    client = make_client(settings)
    try:
        await _warm_up(client, requests, speaks(settings.provider, "ollama"))
    finally:
        await client.aclose()


def poisson_arrivals(rate_per_second: float, count: int, seed: int = 0) -> list[float]:
    """Start times (seconds from the first request) of ``count`` requests arriving as a Poisson
    process: gaps drawn from an exponential distribution with mean 1 / rate. Seeded, so that two
    runs of a benchmark send the same schedule and differ only in the server."""
    if rate_per_second <= 0:
        raise ValueError(f"request rate must be positive, got {rate_per_second}")
    rng = random.Random(seed)
    arrivals: list[float] = []
    at = 0.0  # the first request opens the measured window, as in the closed loop
    for _ in range(count):
        arrivals.append(at)
        at += rng.expovariate(rate_per_second)
    return arrivals


async def run_rate(
    settings: EndpointSettings,
    requests: Sequence[tuple[str, dict[str, Any]]],
    rate_per_second: float,
    warmup: int = 1,
    seed: int = 0,
) -> LevelResult:
    """Each request after the first ``warmup`` starts at its scheduled Poisson arrival time,
    whether or not earlier ones have finished (open loop). The result's ``concurrency`` is the
    most requests that were in flight at once. httpx's pool holds at most 100 connections; beyond
    that, a request waits for one, and the wait counts into its latency as a user's would."""
    ollama = speaks(settings.provider, "ollama")
    client = make_client(settings)
    try:
        await _warm_up(client, requests[:warmup], ollama)
        measured = requests[warmup:]
        schedule = poisson_arrivals(rate_per_second, len(measured), seed)
        in_flight = peak = 0

        async def send_at(at: float, path: str, payload: dict[str, Any]) -> RequestTiming:
            nonlocal in_flight, peak
            delay = started + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await timed_request(client, path, payload, ollama)
            finally:
                in_flight -= 1

        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                send_at(at, path, payload)
                for at, (path, payload) in zip(schedule, measured, strict=True)
            )
        )
        return LevelResult(peak, time.perf_counter() - started, tuple(results), rate_per_second)
    finally:
        await client.aclose()
