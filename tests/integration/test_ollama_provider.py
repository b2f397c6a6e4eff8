"""The Ollama provider against a loopback server speaking Ollama's /api/chat wire format."""

import asyncio
import json
import logging
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.providers import (
    EndpointSettings,
    MalformedOutput,
    OllamaProvider,
    ProviderUnavailable,
    ThinkingMode,
    TruncatedOutput,
)
from kg_pipeline.providers.ollama import think_value
from tests.stand_in_server import Reply, StandInServer

ANSWER = {
    "concepts": [
        {"concept_id": "concept_001", "label": "sourdough starter", "description": "A culture.",
         "search_terms": ["starter"]},
    ],
    "instances": [{"concept_id": "concept_001", "quote": "the starter"}],
    "relationships": [],
}  # fmt: skip


def chat_reply(
    content: str, thinking: str | None = None, done_reason: str = "stop", prompt_tokens: int = 812
) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    return Reply(
        body={
            "model": "qwen3:8b",
            "created_at": "2026-01-01T00:00:00Z",
            "message": message,
            "done": True,
            "done_reason": done_reason,
            "total_duration": 2_000_000_000,
            "prompt_eval_count": prompt_tokens,
            "eval_count": 95,
        }
    )


def settings(base_url: str, **overrides: Any) -> EndpointSettings:
    values: dict[str, Any] = {
        "name": "gpu0",
        "provider": "ollama",
        "base_url": base_url,
        "model": "qwen3:8b",
    }
    return EndpointSettings(**(values | overrides))


def extract(server: StandInServer, **overrides: Any) -> Any:
    async def run() -> Any:
        provider = OllamaProvider(settings(server.base_url, **overrides))
        try:
            return await provider.extract(build_messages("the starter"), extraction_json_schema())
        finally:
            await provider.aclose()

    return asyncio.run(run())


def test_request_carries_schema_options_and_keep_alive() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", chat_reply(json.dumps(ANSWER)))
        extract(server, num_threads=6, gpu_layers=20, temperature=0.2, keep_alive="30m")
        body = server.requests[0].body
    assert body["stream"] is False
    assert body["format"] == extraction_json_schema()  # the schema itself, not "json"
    assert body["think"] is False
    assert body["keep_alive"] == "30m"
    options = body["options"]
    assert options["temperature"] == 0.2 and options["top_p"] == 0.9
    assert options["num_predict"] == 4096
    assert options["num_thread"] == 6 and options["num_gpu"] == 20
    assert options["seed"] == 0
    assert options["repeat_penalty"] == 1.1
    assert options["num_ctx"] % 1024 == 0
    assert options["num_ctx"] >= 4096 + len(json.dumps(body["messages"])) // 3
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]


def test_all_gpu_layers_leaves_num_gpu_to_ollama() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", chat_reply(json.dumps(ANSWER)))
        extract(server, gpu_layers=-1)
        assert "num_gpu" not in server.requests[0].body["options"]


def test_answer_is_validated_and_stats_come_from_the_servers_counts() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", chat_reply(json.dumps(ANSWER)))
        result = extract(server)
    assert result.extraction.concepts[0].label == "sourdough starter"
    assert result.stats.prompt_tokens == 812
    assert result.stats.completion_tokens == 95
    assert result.stats.finish_reason == "stop"
    assert result.stats.raw_text == json.dumps(ANSWER)


def test_thinking_is_logged_but_never_parsed_as_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    thoughts = "Let me think about the starter. " * 20
    with StandInServer() as server, caplog.at_level(logging.INFO):
        server.reply("POST", "/api/chat", chat_reply(json.dumps(ANSWER), thinking=thoughts))
        result = extract(server, thinking_mode="high")
    assert result.stats.thinking_excerpt == thoughts[:200]
    assert thoughts[:200] in caplog.text and thoughts not in caplog.text


def test_empty_content_with_thinking_is_a_failure_not_an_answer() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", chat_reply("", thinking=json.dumps(ANSWER)))
        with pytest.raises(
            MalformedOutput, match="only in its thinking/reasoning channel"
        ) as failure:
            extract(server, model="gpt-oss:20b")
    assert failure.value.stats is not None and failure.value.stats.raw_text == ""


def test_length_stop_is_reported_as_truncation() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", chat_reply('{"concepts": [', done_reason="length"))
        with pytest.raises(TruncatedOutput, match="output budget"):
            extract(server)


def test_a_prompt_that_overflowed_num_ctx_is_never_taken_silently() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", chat_reply(json.dumps(ANSWER), prompt_tokens=60_000))
        with pytest.raises(TruncatedOutput, match="num_ctx"):
            extract(server)


def test_malformed_output_keeps_the_raw_text() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", chat_reply("I cannot do that."))
        with pytest.raises(MalformedOutput) as failure:
            extract(server)
    assert failure.value.stats is not None
    assert failure.value.stats.raw_text == "I cannot do that."


def test_http_error_names_the_url_and_status() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", Reply(503, {"error": "server busy, queue full"}))
        with pytest.raises(ProviderUnavailable, match=r"/api/chat answered HTTP 503.*queue full"):
            extract(server)


def test_dead_endpoint_says_which_url_was_tried() -> None:
    with StandInServer() as server:
        url = server.base_url
    provider = OllamaProvider(settings(url, timeout_seconds=2))
    with pytest.raises(ProviderUnavailable, match=f"cannot reach {url}/api/chat"):
        asyncio.run(provider.extract(build_messages("x"), extraction_json_schema()))


def test_models_are_listed_from_api_tags() -> None:
    with StandInServer() as server:
        server.reply(
            "GET",
            "/api/tags",
            Reply(body={"models": [{"name": "qwen3:8b"}, {"name": "gpt-oss:20b"}]}),
        )
        provider = OllamaProvider(settings(server.base_url))
        assert asyncio.run(provider.list_models()) == ["qwen3:8b", "gpt-oss:20b"]


@pytest.mark.parametrize(
    ("model", "mode", "think", "budget"),
    [
        ("qwen3:8b", ThinkingMode.OFF, False, 4096),
        ("qwen3:8b", ThinkingMode.LOW, True, 4096),
        ("qwen3:8b", ThinkingMode.MEDIUM, True, 12288),
        ("qwen3:8b", ThinkingMode.HIGH, True, 16384),
        ("gpt-oss:20b", ThinkingMode.OFF, "low", 4096),
        ("gpt-oss:120b", ThinkingMode.HIGH, "high", 16384),
    ],
)
def test_thinking_mode_maps_to_think_and_output_budget(
    model: str, mode: ThinkingMode, think: bool | str, budget: int
) -> None:
    assert think_value(model, mode) == think
    assert settings("http://x", model=model, thinking_mode=mode).output_budget == budget
