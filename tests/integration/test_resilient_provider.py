"""Recovery against a loopback server that fails on cue (the fault is real HTTP; only the clock
is injected, so the tests do not wait out real backoff)."""

import asyncio
import json
import random
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.middleware.resilient import ResilientProvider, RetryPolicy
from kg_pipeline.providers import (
    EndpointSettings,
    MalformedOutput,
    OpenAICompatibleProvider,
    ProviderUnavailable,
    TruncatedOutput,
)
from tests.outage_server import SocketServer
from tests.stand_in_server import Reply, StandInServer

VALID = json.dumps({"concepts": [], "instances": [], "relationships": []})
PATH = "/v1/chat/completions"


def completion(content: str, finish_reason: str = "stop") -> Reply:
    return Reply(
        body={
            "choices": [{"message": {"content": content}, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }
    )


class Clock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def resilient(url: str, clock: Clock, **policy: Any) -> ResilientProvider:
    inner = OpenAICompatibleProvider(
        EndpointSettings(name="e", provider="vllm", base_url=url, model="m", timeout_seconds=5)
    )
    return ResilientProvider(inner, RetryPolicy(**policy), clock.sleep, random.Random(0))


def extract(provider: ResilientProvider) -> Any:
    return asyncio.run(provider.extract(build_messages("text"), extraction_json_schema()))


def test_retry_after_is_honoured_on_503() -> None:
    clock = Clock()
    with StandInServer() as server:
        server.reply(
            "POST",
            PATH,
            Reply(503, {"error": "queue full"}, {"Retry-After": "2"}),
            completion(VALID),
        )
        result = extract(resilient(server.base_url, clock))
    assert clock.sleeps == [2.0]
    assert (result.stats.attempts, result.stats.retry_wait_seconds) == (2, 2.0)


def test_backoff_is_exponential_with_full_jitter() -> None:
    clock = Clock()
    with StandInServer() as server:
        server.reply(
            "POST", PATH, Reply(429, {}), Reply(429, {}), Reply(500, {}), completion(VALID)
        )
        result = extract(resilient(server.base_url, clock, base_delay_seconds=1.0))
    # Attempt k waits uniformly in [0, 1 * 2^k]: bounds 1, 2, 4.
    assert len(clock.sleeps) == 3
    assert all(0 <= wait <= bound for wait, bound in zip(clock.sleeps, [1, 2, 4], strict=True))
    assert result.stats.attempts == 4


def test_a_client_error_is_not_retried() -> None:
    clock = Clock()
    with StandInServer() as server:
        server.reply("POST", PATH, Reply(400, {"error": "bad request"}))
        with pytest.raises(ProviderUnavailable, match="HTTP 400") as failure:
            extract(resilient(server.base_url, clock))
        assert len(server.requests) == 1
    assert failure.value.stats is not None and failure.value.stats.attempts == 1


def test_retries_stop_at_max_retries() -> None:
    clock = Clock()
    with StandInServer() as server:
        server.reply("POST", PATH, Reply(502, {}))
        with pytest.raises(ProviderUnavailable, match="HTTP 502"):
            extract(resilient(server.base_url, clock, max_retries=2))
        assert len(server.requests) == 3


def test_malformed_output_is_re_asked_once_with_the_validation_error() -> None:
    clock = Clock()
    with StandInServer() as server:
        server.reply("POST", PATH, completion('{"concepts": [{"label": "x"}]}'), completion(VALID))
        result = extract(resilient(server.base_url, clock))
        second = server.requests[1].body["messages"]
    assert second[-2] == {"role": "assistant", "content": '{"concepts": [{"label": "x"}]}'}
    assert "not valid" in second[-1]["content"] and "concepts.0.concept_id" in second[-1]["content"]
    assert result.stats.reasks == 1


def test_malformed_twice_is_recorded_as_failed_with_the_raw_text() -> None:
    clock = Clock()
    with StandInServer() as server:
        server.reply("POST", PATH, completion("no json here"))
        with pytest.raises(MalformedOutput) as failure:
            extract(resilient(server.base_url, clock))
        assert len(server.requests) == 2
    assert failure.value.stats is not None
    assert (failure.value.stats.raw_text, failure.value.stats.reasks) == ("no json here", 1)


def test_truncation_doubles_the_output_budget_up_to_the_cap() -> None:
    clock = Clock()
    with StandInServer() as server:
        server.reply("POST", PATH, completion('{"conc', "length"), completion(VALID))
        result = extract(resilient(server.base_url, clock))
        budgets = [r.body["max_tokens"] for r in server.requests]
    assert budgets == [4096, 8192]
    assert result.stats.budget_retries == 1

    with StandInServer() as server:
        server.reply("POST", PATH, completion('{"conc', "length"))
        with pytest.raises(TruncatedOutput) as failure:
            extract(resilient(server.base_url, clock, max_output_tokens_cap=8192))
        assert [r.body["max_tokens"] for r in server.requests] == [4096, 8192]
    assert failure.value.stats is not None and failure.value.stats.budget_retries == 1


def test_a_dead_endpoint_is_probed_once_a_cooldown_instead_of_being_hammered() -> None:
    clock = Clock()
    with SocketServer("reset") as server:  # every connection dropped unanswered
        provider = resilient(
            server.base_url,
            clock,
            max_retries=1,
            allowed_fails=2,
            cooldown_seconds=0.2,
            outage_budget_seconds=0.5,
        )
        with pytest.raises(ProviderUnavailable, match=r"outage budget of 0\.5s") as failure:
            extract(provider)
        # Two attempts start the outage; then one probe when each 0.2 s cooldown ends, within
        # the 0.5 s budget: at 0.2 s and 0.4 s. One more for a slow machine's timing.
        assert 4 <= server.accepted <= 5
    assert str(failure.value).startswith(f"cannot reach {server.base_url}/v1/chat/completions")
    assert len(clock.sleeps) == 1  # only the retry before the outage backed off


def test_retry_after_as_seconds_or_http_date() -> None:
    import datetime as dt
    import email.utils

    from kg_pipeline.providers.http import retry_after_seconds

    in_ten = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10))
    assert retry_after_seconds("7") == 7.0
    assert 8.0 <= (retry_after_seconds(in_ten) or 0) <= 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
