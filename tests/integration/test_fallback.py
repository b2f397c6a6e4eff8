"""Local -> cloud fallback against loopback servers: one that fails, one that hangs, one that
answers."""

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.middleware.cached import CachedProvider
from kg_pipeline.middleware.fallback import FallbackProvider
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider, ProviderUnavailable
from kg_pipeline.store.cache import SqlResponseCache
from kg_pipeline.store.database import create_engine
from tests.stand_in_server import EMPTY_EXTRACTION, Reply, StandInServer

ANSWER = EMPTY_EXTRACTION


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers: a hung GPU server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def provider(url: str, **overrides: Any) -> OpenAICompatibleProvider:
    values: dict[str, Any] = {
        "name": "local",
        "provider": "vllm",
        "base_url": url,
        "model": "small",
        "timeout_seconds": 1,
    }
    return OpenAICompatibleProvider(EndpointSettings(**(values | overrides)))


def extract(p: Any) -> Any:
    return asyncio.run(p.extract(build_messages("text"), extraction_json_schema()))


def test_an_error_falls_back_and_the_fallback_is_recorded() -> None:
    with StandInServer() as local, StandInServer() as cloud:
        local.reply("POST", "/v1/chat/completions", Reply(500, {"error": "CUDA out of memory"}))
        cloud.reply("POST", "/v1/chat/completions", ANSWER)
        combined = FallbackProvider(
            provider(local.base_url), provider(cloud.base_url, name="cloud", model="gpt-4o")
        )
        result = extract(combined)
        assert len(cloud.requests) == 1 and cloud.requests[0].body["model"] == "gpt-4o"
    assert (result.stats.fallback_from, result.stats.fallback_reason) == ("local", "error")
    # gpt-4o at $2.50 / $10.00 per million tokens: 10 prompt + 5 completion tokens
    # = (10 * 2.50 + 5 * 10.00) / 1e6 = 75 / 1e6 = $0.000075.
    assert result.stats.fallback_cost_usd == pytest.approx(0.000075)
    assert result.stats.fallback_added_seconds >= 0
    assert combined.fallbacks == 1


def test_a_timeout_falls_back_as_a_timeout(silent_server: str) -> None:
    with StandInServer() as cloud:
        cloud.reply("POST", "/v1/chat/completions", ANSWER)
        result = extract(
            FallbackProvider(provider(silent_server), provider(cloud.base_url, name="cloud"))
        )
    assert result.stats.fallback_reason == "timeout"
    assert result.stats.fallback_added_seconds >= 1.0  # the local timeout it waited out


def test_without_fallback_on_timeout_the_timeout_is_the_answer(silent_server: str) -> None:
    with StandInServer() as cloud:
        cloud.reply("POST", "/v1/chat/completions", ANSWER)
        local = provider(silent_server, fallback_on_timeout=False)
        with pytest.raises(ProviderUnavailable, match="did not answer within"):
            extract(FallbackProvider(local, provider(cloud.base_url, name="cloud")))
        assert cloud.requests == []


def test_a_fallback_answer_is_never_cached_as_the_local_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    with StandInServer() as local, StandInServer() as cloud:
        local.reply("POST", "/v1/chat/completions", Reply(503, {}))
        cloud.reply("POST", "/v1/chat/completions", ANSWER)
        cached = CachedProvider(
            FallbackProvider(provider(local.base_url), provider(cloud.base_url, name="cloud")),
            SqlResponseCache(engine),
        )
        extract(cached)
        extract(cached)
        assert len(cloud.requests) == 2  # asked again: nothing was stored under the local model
    assert cached.hits == 0
