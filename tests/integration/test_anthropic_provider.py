"""The Anthropic provider against a loopback server speaking the Messages API (``/v1/messages``)
the way api.anthropic.com does: real HTTP, scripted answers, recorded requests."""

import asyncio
import json
import random
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.middleware.resilient import ResilientProvider, RetryPolicy, is_retryable
from kg_pipeline.providers import (
    AnthropicProvider,
    EndpointSettings,
    MalformedOutput,
    ProviderUnavailable,
    TruncatedOutput,
    create_provider,
)
from tests.stand_in_server import Reply, StandInServer

PATH = "/v1/messages"
KEY = "sk-ant-api03-secret-key-0123456789"
VALID = {
    "concepts": [
        {"concept_id": "concept_001", "label": "canal", "description": "", "search_terms": []}
    ],
    "instances": [{"concept_id": "concept_001", "quote": "canal"}],
    "relationships": [],
}


def message(*content: dict[str, Any], stop_reason: str = "tool_use") -> Reply:
    return Reply(
        body={
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-sonnet-20241022",
            "content": list(content),
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 1800, "output_tokens": 95},
        }
    )


def tool_use(arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_01", "name": "record_extraction", "input": arguments}


def error(status: int, kind: str, text: str, **headers: str) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": kind, "message": text}}, headers)


def settings(server: StandInServer, **overrides: Any) -> EndpointSettings:
    values: dict[str, Any] = {
        "name": "claude",
        "provider": "anthropic",
        "base_url": server.base_url,
        "model": "claude-3-5-sonnet-20241022",
        "api_key": KEY,
    }
    return EndpointSettings(**(values | overrides))


def extract(server: StandInServer, **overrides: Any) -> Any:
    provider = AnthropicProvider(settings(server, **overrides))

    async def run() -> Any:
        try:
            return await provider.extract(build_messages("text"), extraction_json_schema())
        finally:
            await provider.aclose()

    return asyncio.run(run())


def test_forced_tool_answer_is_a_validated_extraction_with_usage_tokens() -> None:
    with StandInServer() as server:
        server.reply("POST", PATH, message(tool_use(VALID)))
        result = extract(server)
    assert [c.label for c in result.extraction.concepts] == ["canal"]
    assert result.stats.prompt_tokens == 1800 and result.stats.completion_tokens == 95
    assert result.stats.finish_reason == "tool_use"
    assert json.loads(result.stats.raw_text) == VALID and result.stats.repairs == []


def test_request_carries_key_version_and_forces_the_schema_tool() -> None:
    with StandInServer() as server:
        server.reply("POST", PATH, message(tool_use(VALID)))
        result = extract(server)
        request = server.requests[0]
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers  # the key goes in x-api-key only
    body = request.body
    assert body["tools"] == [
        {
            "name": "record_extraction",
            "description": body["tools"][0]["description"],
            "input_schema": extraction_json_schema(),
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "record_extraction"}
    assert body["system"] == build_messages("text").system
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 4096 and body["temperature"] == 0.1
    assert "top_p" not in body and "thinking" not in body and "seed" not in body
    assert KEY not in json.dumps(result.stats.request_options)


def test_max_tokens_stop_is_truncation() -> None:
    with StandInServer() as server:
        server.reply("POST", PATH, message(tool_use({"concepts": []}), stop_reason="max_tokens"))
        with pytest.raises(TruncatedOutput) as failure:
            extract(server)
    assert failure.value.stats is not None and failure.value.stats.finish_reason == "max_tokens"


def test_text_answer_with_fenced_json_is_parsed_and_the_repair_recorded() -> None:
    fenced = f"```json\n{json.dumps(VALID)}\n```"
    with StandInServer() as server:
        server.reply(
            "POST", PATH, message({"type": "text", "text": fenced}, stop_reason="end_turn")
        )
        result = extract(server)
    assert [c.concept_id for c in result.extraction.concepts] == ["concept_001"]
    assert result.stats.repairs == ["code_fence"] and result.stats.raw_text == fenced


def test_tool_input_off_the_schema_is_malformed_and_keeps_the_raw_answer() -> None:
    wrong = {"concepts": "canal", "instances": [], "relationships": []}
    with StandInServer() as server:
        server.reply("POST", PATH, message(tool_use(wrong)))
        with pytest.raises(MalformedOutput) as failure:
            extract(server)
    stats = failure.value.stats
    assert stats is not None and stats.parse_failure == "schema"
    assert json.loads(stats.raw_text) == wrong


def test_rejected_key_names_the_env_var_and_never_the_key() -> None:
    # A server that echoes the key (OpenAI does) must not get it into the error.
    with StandInServer() as server:
        server.reply("POST", PATH, error(401, "authentication_error", f"invalid x-api-key {KEY}"))
        with pytest.raises(ProviderUnavailable) as failure:
            extract(server)
    text = str(failure.value)
    assert "ANTHROPIC_API_KEY" in text and "api_key_env" in text and "HTTP 401" in text
    assert KEY not in text and KEY[:12] not in text
    assert failure.value.status_code == 401 and not is_retryable(failure.value)
    assert failure.value.__cause__ is None and failure.value.__suppress_context__


def test_a_key_cut_off_in_an_echoed_error_body_is_still_redacted() -> None:
    # http.py keeps the first 500 characters of an error body. The body is a JSON string, so a
    # quote, 480 x's, then the key from character 481: its first 19 characters survive the cut.
    text = "x" * 480 + KEY
    with StandInServer() as server:
        server.reply("POST", PATH, Reply(400, text))
        with pytest.raises(ProviderUnavailable) as failure:
            extract(server)
    assert "sk-ant-api03" not in str(failure.value) and "[redacted]" in str(failure.value)


def test_rate_limit_surfaces_retry_after_and_is_waited_out() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    with StandInServer() as server:
        limited = error(429, "rate_limit_error", "slow down", **{"Retry-After": "7"})
        server.reply("POST", PATH, limited)
        with pytest.raises(ProviderUnavailable) as failure:
            extract(server)
        server.reply("POST", PATH, limited, message(tool_use(VALID)))
        resilient = ResilientProvider(
            AnthropicProvider(settings(server)), RetryPolicy(), sleep, random.Random(0)
        )
        result = asyncio.run(resilient.extract(build_messages("text"), extraction_json_schema()))
    assert failure.value.status_code == 429 and failure.value.retry_after == 7.0
    assert sleeps == [7.0] and result.stats.attempts == 2


def test_overloaded_529_says_so_and_carries_retry_after() -> None:
    with StandInServer() as server:
        server.reply(
            "POST", PATH, error(529, "overloaded_error", "Overloaded", **{"Retry-After": "3"})
        )
        with pytest.raises(ProviderUnavailable, match="overloaded") as failure:
            extract(server)
    assert failure.value.status_code == 529 and failure.value.retry_after == 3.0


def test_thinking_sends_a_budget_and_offers_the_tool_without_forcing_it() -> None:
    thought = {"type": "thinking", "thinking": "The text names a canal.", "signature": "sig"}
    with StandInServer() as server:
        server.reply("POST", PATH, message(thought, tool_use(VALID)))
        result = extract(server, thinking_mode="medium")
        body = server.requests[0].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["tool_choice"] == {"type": "auto"} and body["max_tokens"] == 12288
    assert "temperature" not in body  # thinking accepts only the default temperature
    assert "record_extraction tool" in body["system"]
    assert result.stats.thinking_excerpt == "The text names a canal."
    assert result.stats.request_options["thinking_budget_tokens"] == 4096


def test_thinking_is_dropped_when_the_output_budget_cannot_hold_the_minimum() -> None:
    # 1500 // 2 = 750 thinking tokens would be below the API's minimum of 1024.
    with StandInServer() as server:
        server.reply("POST", PATH, message(tool_use(VALID)))
        extract(server, thinking_mode="high", max_output_tokens=1500)
        body = server.requests[0].body
    assert "thinking" not in body and body["tool_choice"]["type"] == "tool"


def test_a_reask_replays_an_empty_answer_as_non_empty_text() -> None:
    with StandInServer() as server:
        server.reply("POST", PATH, message(tool_use(VALID)))
        provider = AnthropicProvider(settings(server))
        messages = build_messages("text").with_correction("", "the model returned empty content")
        asyncio.run(provider.extract(messages, extraction_json_schema()))
        asyncio.run(provider.aclose())
        turns = server.requests[0].body["messages"]
    assert [m["role"] for m in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert all(m["content"] for m in turns)


def test_models_are_listed_from_v1_models() -> None:
    with StandInServer() as server:
        models = {"data": [{"type": "model", "id": "claude-3-5-haiku-20241022"}], "has_more": False}
        server.reply("GET", "/v1/models?limit=1000", Reply(body=models))
        provider = AnthropicProvider(settings(server))
        assert asyncio.run(provider.list_models()) == ["claude-3-5-haiku-20241022"]


def test_registry_builds_the_anthropic_provider_for_anthropic_settings() -> None:
    provider = create_provider(
        EndpointSettings(
            name="claude",
            provider="anthropic",
            base_url="https://api.anthropic.com",
            model="claude-3-5-haiku-20241022",
            api_key=KEY,
        )
    )
    assert isinstance(provider, AnthropicProvider)
    asyncio.run(provider.aclose())
