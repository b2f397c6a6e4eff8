"""The fallback arrives in time: once ``local_timeout_seconds`` have passed for the chunk in total
(not after every retry's own read timeout), and at the first connection failure. The provider
stack is the one runs build (``provider_stack``); the local servers misbehave for real."""

import asyncio
import time
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.middleware.stack import provider_stack
from kg_pipeline.providers import EndpointSettings, ProviderResult, ProviderUnavailable
from tests.outage_server import SocketServer
from tests.stand_in_server import EMPTY_EXTRACTION, StandInServer


def local(url: str, **settings: Any) -> EndpointSettings:
    values: dict[str, Any] = {
        "name": "local",
        "provider": "vllm",
        "base_url": url,
        "model": "small",
        "timeout_seconds": 1.0,
        "max_retries": 3,
        "retry_backoff_seconds": 0.5,
    }
    return EndpointSettings(**(values | settings))


def cloud(url: str) -> EndpointSettings:
    # A short outage budget: the last endpoint of the chain waits for a server nobody answers
    # for, as any endpoint with nowhere else to go does.
    return EndpointSettings(
        name="cloud", provider="openai", base_url=url, model="gpt-4o", retry_backoff_seconds=0.01,
        cooldown_seconds=0.1, outage_budget_seconds=0.5,
    )  # fmt: skip


def extract(endpoint: EndpointSettings, fallback: EndpointSettings) -> ProviderResult:
    provider = provider_stack(
        endpoint,
        endpoint.max_concurrent_requests,
        fallback=(fallback, fallback.max_concurrent_requests),
    )

    async def call() -> ProviderResult:
        try:
            return await provider.extract(build_messages("text"), extraction_json_schema())
        finally:
            await provider.aclose()

    return asyncio.run(call())


def test_a_hung_local_server_falls_back_once_the_chunks_deadline_passes() -> None:
    with SocketServer("hang") as hung, StandInServer() as answering:
        answering.reply("POST", "/v1/chat/completions", EMPTY_EXTRACTION)
        started = time.monotonic()
        result = extract(local(hung.base_url, local_timeout_seconds=1.5), cloud(answering.base_url))
        took = time.monotonic() - started
        assert len(answering.requests) == 1
        # 1 s read timeout, then a retry cut off by the chunk's deadline at 1.5 s: two requests,
        # where the deadline per retry let all four run (4 x 1 s timeouts + backoffs, ~6 s).
        assert hung.accepted == 2
    assert (result.stats.fallback_from, result.stats.fallback_reason) == ("local", "timeout")
    assert 1.5 <= result.stats.fallback_added_seconds < 3.0
    assert took < 10.0


def test_a_refused_local_server_falls_back_at_the_first_connection_failure() -> None:
    with SocketServer("reset") as dying, StandInServer() as answering:
        answering.reply("POST", "/v1/chat/completions", EMPTY_EXTRACTION)
        result = extract(local(dying.base_url), cloud(answering.base_url))
        # One attempt, not 1 + 3 retries with backoff before the fallback was asked.
        assert dying.accepted == 1
        assert len(answering.requests) == 1
    assert (result.stats.fallback_from, result.stats.fallback_reason) == ("local", "error")
    assert result.stats.fallback_added_seconds < 1.0


def test_without_fallback_on_errors_a_refused_server_is_retried_first() -> None:
    with SocketServer("reset") as dying, StandInServer() as answering:
        answering.reply("POST", "/v1/chat/completions", EMPTY_EXTRACTION)
        # Without a fallback to go to, a server nobody answers for is an outage: its 3 tries,
        # then probes until the run's outage budget (0.5 s here) is spent.
        endpoint = local(
            dying.base_url, fallback_on_error=False, max_retries=2, retry_backoff_seconds=0.01,
            cooldown_seconds=0.1, outage_budget_seconds=0.5,
        )  # fmt: skip
        with pytest.raises(ProviderUnavailable, match="cannot reach"):
            extract(endpoint, cloud(answering.base_url))
        assert dying.accepted >= 3 and answering.requests == []


def test_when_the_fallback_fails_too_the_local_root_cause_comes_first() -> None:
    with (
        SocketServer("reset") as dying,
        SocketServer("reset") as also_dying,
        pytest.raises(ProviderUnavailable) as failure,
    ):
        extract(local(dying.base_url), cloud(also_dying.base_url))
    message = str(failure.value)
    assert message.startswith(f"cannot reach {dying.base_url}/v1/chat/completions")
    assert f"the fallback cloud failed too: cannot reach {also_dying.base_url}" in message
