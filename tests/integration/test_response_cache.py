"""The response cache against a loopback OpenAI-compatible server: what it keys on, and that a
re-run of unchanged chunks makes no model call."""

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.contract.schema import Extraction, extraction_json_schema
from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.middleware.cached import CachedProvider, cache_key
from kg_pipeline.providers import CallStats, EndpointSettings, OpenAICompatibleProvider
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.store.cache import SqlResponseCache
from kg_pipeline.store.database import create_engine, response_cache
from tests.models import materialize_partition, register_model
from tests.stand_in_server import EMPTY_EXTRACTION, StandInServer

ANSWER = EMPTY_EXTRACTION


def settings(**overrides: Any) -> EndpointSettings:
    values: dict[str, Any] = {
        "name": "a",
        "provider": "vllm",
        "base_url": "http://gpu-0:8000",
        "model": "m",
    }
    return EndpointSettings(**(values | overrides))


def test_the_key_ignores_transport_and_follows_what_shapes_the_answer() -> None:
    messages, schema = build_messages("text"), extraction_json_schema()
    key = cache_key(settings(), messages, schema, None)
    # Another server of the fleet, another key, another timeout: the same answer.
    same = settings(name="b", base_url="http://gpu-1:8000", api_key="sk-x", timeout_seconds=9)
    assert cache_key(same, messages, schema, None) == key
    # A llama.cpp server speaks the same API: the same entry.
    assert cache_key(settings(provider="llamacpp"), messages, schema, None) == key
    # Model, sampling, budget, text and prompt version all change it.
    assert cache_key(settings(model="m2"), messages, schema, None) != key
    assert cache_key(settings(temperature=0.7), messages, schema, None) != key
    assert cache_key(settings(), messages, schema, 8192) != key
    assert cache_key(settings(), build_messages("other text"), schema, None) != key
    assert cache_key(settings(provider="ollama"), messages, schema, None) != key


def test_the_repeat_penalty_is_part_of_the_key_only_where_the_request_carries_it() -> None:
    messages, schema = build_messages("text"), extraction_json_schema()
    key = cache_key(settings(), messages, schema, None)
    assert cache_key(settings(repeat_penalty=1.0), messages, schema, None) != key
    # vLLM's repetition_penalty and llama.cpp's repeat_penalty are one setting: one entry.
    assert cache_key(settings(provider="llamacpp"), messages, schema, None) == key
    # OpenAI's API takes no such field, so a cloud model's stored answers keep their keys.
    cloud = settings(provider="openai", base_url="https://api.openai.com")
    assert cache_key(cloud, messages, schema, None) == cache_key(
        cloud.model_copy(update={"repeat_penalty": 1.3}), messages, schema, None
    )


def test_a_cached_answer_costs_no_call_and_is_marked(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", ANSWER)
        provider = CachedProvider(
            OpenAICompatibleProvider(settings(base_url=server.base_url)), SqlResponseCache(engine)
        )

        async def twice() -> tuple[Any, Any]:
            first = await provider.extract(build_messages("text"), extraction_json_schema())
            second = await provider.extract(build_messages("text"), extraction_json_schema())
            return first, second

        first, second = asyncio.run(twice())
        assert len(server.requests) == 1
    assert (first.stats.cached, second.stats.cached) == (False, True)
    assert second.extraction == first.extraction
    assert (provider.hits, provider.misses) == (1, 1)


# Computed by the cache as it was first written (kg_pipeline/store/cache.py, before the wrapper
# moved to middleware/): answers stored under it since must keep answering.
STORED_KEY = "0ddd31b6e7ca5485d91320d38762413a5e2535518ad49464556f5435d223b094"


def test_an_answer_stored_under_an_earlier_key_still_answers(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    stored = Extraction.model_validate({"concepts": [], "instances": [], "relationships": []})
    with engine.begin() as connection:  # the row as the cache has always written it
        connection.execute(
            sa.insert(response_cache).values(
                key=STORED_KEY, provider_kind="openai_compatible", model="m",
                prompt_version="v1", extraction_json=stored.model_dump_json(),
                stats_json=CallStats(wall_seconds=2.5).model_dump_json(),
                created_at=dt.datetime.now(dt.UTC),
            )
        )  # fmt: skip
    messages = PromptMessages(
        system="Extract.", example_user="", example_assistant="", user="Ada wrote the notes.",
        version="v1",
    )  # fmt: skip
    with StandInServer() as server:
        # No repeat penalty, as requests had none then: an endpoint sending one asks another
        # question, whose answer the stored one is not.
        endpoint = settings(
            base_url=server.base_url, temperature=0.1, top_p=0.9, seed=0, repeat_penalty=None
        )
        provider = CachedProvider(OpenAICompatibleProvider(endpoint), SqlResponseCache(engine))
        result = asyncio.run(provider.extract(messages, {"type": "object"}, 512))
        assert server.requests == []
    assert cache_key(endpoint, messages, {"type": "object"}, 512) == STORED_KEY
    assert (result.extraction, result.stats.wall_seconds, result.stats.cached) == (
        stored,
        2.5,
        True,
    )


def model_calls(server: StandInServer) -> int:
    """Chat requests only: a run also asks the server what it has loaded (status observation)."""
    return sum(r.path == "/v1/chat/completions" for r in server.requests)


def _materialize(server: StandInServer, corpus: Path, **config: Any) -> dg.ExecuteInProcessResult:
    register_model(DEFAULT_ENDPOINT.name, server.base_url)
    return materialize_partition(
        [documents, chunks, extractions],
        DEFAULT_ENDPOINT.name,
        run_config=dg.RunConfig(
            ops={
                "documents": DocumentsConfig(corpus_dir=str(corpus)),
                "extractions": ExtractionsConfig(**config),
            }
        ),
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus" / "notes"
    folder.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (folder / f"{name}.md").write_text(
            f"Document {name} is about {name}-rays.", encoding="utf-8"
        )
    return tmp_path / "corpus"


def test_rematerializing_unchanged_chunks_makes_no_model_call(corpus: Path) -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", ANSWER)
        first = _materialize(server, corpus)
        calls = model_calls(server)
        again = _materialize(server, corpus)
        assert model_calls(server) == calls == 3
        bypass = _materialize(server, corpus, use_cache=False)
        assert model_calls(server) == 6
    meta = [
        r.asset_materializations_for_node("extractions")[0].metadata for r in (first, again, bypass)
    ]
    assert [(m["cache_hits"].value, m["model_calls"].value) for m in meta] == [
        (0, 3),
        (3, 0),
        (0, 3),
    ]
    assert len(again.output_for_node("extractions")) == 3  # nothing dropped, nothing doubled


def test_a_run_stopped_half_way_resumes_with_only_the_missing_chunks(corpus: Path) -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", ANSWER)
        _materialize(server, corpus, max_chunks=2)  # the run that got two chunks done
        assert model_calls(server) == 2
        resumed = _materialize(server, corpus)
        assert model_calls(server) == 3  # only the third chunk was asked
    records = resumed.output_for_node("extractions")
    assert [r.stats.cached for r in records] == [True, True, False]
