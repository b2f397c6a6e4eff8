"""The OpenAI-compatible provider against loopback servers speaking /v1/chat/completions the way
vLLM and llama-cpp-python do (the real llama.cpp server is exercised in test_embedded_model)."""

import asyncio
import json
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.providers import (
    EndpointSettings,
    MalformedOutput,
    OpenAICompatibleProvider,
    ProviderUnavailable,
    TruncatedOutput,
)
from tests.stand_in_server import Reply, StandInServer

ANSWER = json.dumps({"concepts": [], "instances": [], "relationships": []})


def completion(content: str, finish_reason: str = "stop", **message: Any) -> Reply:
    return Reply(
        body={
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, **message},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 700, "completion_tokens": 42, "total_tokens": 742},
        }
    )


def provider(server: StandInServer, **overrides: Any) -> OpenAICompatibleProvider:
    values: dict[str, Any] = {
        "name": "vllm0",
        "provider": "vllm",
        "base_url": server.base_url,
        "model": "Qwen/Qwen2.5-7B-Instruct",
    }
    return OpenAICompatibleProvider(EndpointSettings(**(values | overrides)))


def extract(p: OpenAICompatibleProvider) -> Any:
    async def run() -> Any:
        try:
            return await p.extract(build_messages("text"), extraction_json_schema())
        finally:
            await p.aclose()

    return asyncio.run(run())


def test_vllm_gets_json_schema_structured_output_and_usage_is_read() -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", completion(ANSWER))
        result = extract(provider(server))
        body = server.requests[0].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "extraction", "schema": extraction_json_schema(), "strict": True},
    }
    assert body["max_tokens"] == 4096 and body["temperature"] == 0.1 and body["stream"] is False
    assert "reasoning_effort" not in body
    assert body["seed"] == 0
    assert body["repetition_penalty"] == 1.1  # vLLM's name; its own default would be 1.0
    assert result.stats.prompt_tokens == 700 and result.stats.completion_tokens == 42


def test_auto_asks_for_json_schema_first_and_keeps_it_when_the_server_takes_it() -> None:
    # A server that takes OpenAI's json_schema: one request, and the dialect is learnt.
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", completion(ANSWER))
        p = provider(server, provider="openai_compatible")
        extract(p)
        fmt = server.requests[0].body["response_format"]
        assert len(server.requests) == 1
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == extraction_json_schema()
    assert p.dialect == "json_schema"


# What llama-cpp-python answers a json_schema response_format with: its request validation
# error, caught by its own error handler and sent as HTTP 500.
LLAMA_CPP_PYTHON_REJECTION = Reply(
    500,
    {
        "error": {
            "message": "1 validation error:\n  {'type': 'literal_error', 'loc': "
            "('response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
            "'input': 'json_schema'}",
            "type": "internal_server_error",
        }
    },
)


def test_auto_dialect_falls_back_once_when_json_schema_is_rejected_and_remembers() -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", LLAMA_CPP_PYTHON_REJECTION, completion(ANSWER))
        p = provider(server, provider="openai_compatible")

        async def two_calls() -> None:
            await p.extract(build_messages("a"), extraction_json_schema())
            await p.extract(build_messages("b"), extraction_json_schema())
            await p.aclose()

        asyncio.run(two_calls())
        kinds = [r.body["response_format"]["type"] for r in server.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert p.dialect == "json_object_schema"


def test_a_400_naming_response_format_switches_the_dialect() -> None:
    rejection = Reply(400, {"error": {"message": "response_format 'json_schema' is unsupported"}})
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", rejection, completion(ANSWER))
        p = provider(server, provider="openai_compatible")
        extract(p)
        kinds = [r.body["response_format"]["type"] for r in server.requests]
    assert kinds == ["json_schema", "json_object"] and p.dialect == "json_object_schema"


def test_a_server_error_on_the_first_request_does_not_switch_the_dialect() -> None:
    # An overloaded server's 500 says nothing about response_format: the error is reported as it
    # is, and the next request asks for json_schema again.
    with StandInServer() as server:
        server.reply(
            "POST",
            "/v1/chat/completions",
            Reply(500, {"error": {"message": "Internal Server Error"}}),
            completion(ANSWER),
        )
        p = provider(server, provider="openai_compatible")

        async def two_calls() -> None:
            try:
                with pytest.raises(ProviderUnavailable, match=r"HTTP 500: .*Internal Server Error"):
                    await p.extract(build_messages("a"), extraction_json_schema())
                await p.extract(build_messages("b"), extraction_json_schema())
            finally:
                await p.aclose()

        asyncio.run(two_calls())
        kinds = [r.body["response_format"]["type"] for r in server.requests]
    assert kinds == ["json_schema", "json_schema"] and p.dialect == "json_schema"


def test_an_auth_error_is_not_mistaken_for_a_dialect_problem() -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", Reply(401, {"error": "bad key"}))
        with pytest.raises(ProviderUnavailable, match="HTTP 401"):
            extract(provider(server, provider="openai_compatible"))
        assert len(server.requests) == 1


def test_api_key_is_sent_as_bearer_token_and_never_in_the_error() -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", Reply(429, {"error": "slow down"}))
        with pytest.raises(ProviderUnavailable) as failure:
            extract(provider(server, api_key="sk-secret-123"))
        assert server.requests[0].headers["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in str(failure.value)


def test_reasoning_without_content_is_a_failure() -> None:
    with StandInServer() as server:
        server.reply(
            "POST", "/v1/chat/completions", completion("", reasoning_content="thinking...")
        )
        with pytest.raises(MalformedOutput, match="only in its thinking/reasoning channel"):
            extract(provider(server, thinking_mode="medium"))
        assert server.requests[0].body["reasoning_effort"] == "medium"


def test_finish_reason_length_is_truncation() -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", completion('{"conc', finish_reason="length"))
        with pytest.raises(TruncatedOutput):
            extract(provider(server))


def test_models_are_listed_from_v1_models() -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", Reply(body={"object": "list", "data": [{"id": "a"}]}))
        assert asyncio.run(provider(server).list_models()) == ["a"]


def test_llamacpp_sends_the_schema_as_a_compact_grammar_not_a_response_format() -> None:
    # Both llama.cpp servers take "grammar" (llama-server: tools/server/server-common.cpp reads
    # it beside response_format and refuses the two together; llama-cpp-python: its
    # CreateChatCompletionRequest.grammar). The grammar the servers build from a schema would
    # let the model indent.
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", completion(ANSWER))
        p = provider(server, provider="llamacpp")
        extract(p)
        [request] = server.requests
    assert "response_format" not in request.body
    assert request.body["grammar"].startswith("space ::= ")
    assert p.dialect == "gbnf"


def test_every_llama_cpp_server_gets_the_same_repeat_penalty_whatever_its_own_default() -> None:
    # llama-server's default is 1.0, llama-cpp-python's server's 1.1: a request that left it
    # unset got answers of different length from the same model on the same prompt.
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", completion(ANSWER))
        extract(provider(server, provider="llamacpp"))
        extract(provider(server, provider="llamacpp", repeat_penalty=1.0))
        extract(provider(server, provider="llamacpp", repeat_penalty=None))
        bodies = [request.body for request in server.requests]
    assert [body.get("repeat_penalty") for body in bodies] == [1.1, 1.0, None]
    assert all("repetition_penalty" not in body for body in bodies)


def test_openais_api_is_never_sent_a_field_it_refuses() -> None:
    # OpenAI answers 400 "Unrecognized request argument" to fields outside its API.
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", completion(ANSWER))
        extract(provider(server, provider="openai", repeat_penalty=1.3))
        [request] = server.requests
    assert not {"repeat_penalty", "repetition_penalty"} & set(request.body)
