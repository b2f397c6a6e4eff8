"""A runaway answer (megabytes) is parsed whole but stored capped: its head and tail and its full
length, in the record and in the response cache alike."""

import asyncio
import json
from pathlib import Path

import sqlalchemy as sa

from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.extraction.extract import extract_chunk
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.middleware.cached import CachedProvider
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider
from kg_pipeline.providers.base import RAW_TEXT_HEAD, RAW_TEXT_TAIL
from kg_pipeline.store.cache import SqlResponseCache
from kg_pipeline.store.database import create_engine, response_cache
from tests.stand_in_server import StandInServer, chat_completion

FIVE_MB = 5 * 1024 * 1024
# Valid JSON only when read whole: the object opens in the kept head and closes in the kept
# tail, with 5 MB of whitespace between. Parsing a capped copy would fail on the marker.
PADDED = '{"concepts": [' + " " * FIVE_MB + '], "instances": [], "relationships": []}'
# Stored: 32 KiB head + 8 KiB tail + a marker of well under 100 characters.
STORED_AT_MOST = RAW_TEXT_HEAD + RAW_TEXT_TAIL + 100


def extract_twice(server: StandInServer, engine: sa.Engine) -> tuple[ChunkExtraction, ...]:
    settings = EndpointSettings(
        name="runaway", provider="vllm", base_url=server.base_url, model="m"
    )
    chunk = chunk_document("notes/lock", "A canal lock raises boats.")[0]

    async def run() -> tuple[ChunkExtraction, ...]:
        provider = CachedProvider(OpenAICompatibleProvider(settings), SqlResponseCache(engine))
        try:
            return (await extract_chunk(provider, chunk), await extract_chunk(provider, chunk))
        finally:
            await provider.inner.aclose()

    return asyncio.run(run())


def test_a_5_mb_answer_is_parsed_whole_and_stored_as_head_and_tail(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'cache.sqlite3'}")
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", chat_completion(PADDED))
        fresh, cached = extract_twice(server, engine)
        assert len(server.requests) == 1  # the second answer came from the cache
    assert fresh.status is ExtractionStatus.VALID  # parsed before it was cut
    stats = fresh.stats
    assert stats is not None and stats.raw_text_chars == len(PADDED)
    assert len(stats.raw_text) <= STORED_AT_MOST
    assert stats.raw_text.startswith(PADDED[:RAW_TEXT_HEAD])
    assert stats.raw_text.endswith(PADDED[-RAW_TEXT_TAIL:])
    assert f"characters left out of {len(PADDED):,}" in stats.raw_text
    assert len(fresh.model_dump_json()) < STORED_AT_MOST + 5_000  # the record as written
    with engine.connect() as connection:
        stored = connection.execute(sa.select(response_cache.c.stats_json)).scalar_one()
    assert len(stored) < STORED_AT_MOST + 5_000
    assert cached.stats is not None and cached.stats.cached
    assert (cached.stats.raw_text, cached.stats.raw_text_chars) == (
        stats.raw_text,
        len(PADDED),
    )  # read back unchanged: a capped text is not capped again


def test_a_5_mb_answer_that_is_not_json_keeps_its_head_tail_and_length(tmp_path: Path) -> None:
    rambling = "I am thinking. " * (FIVE_MB // 15)
    engine = create_engine(f"sqlite:///{tmp_path / 'cache.sqlite3'}")
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", chat_completion(rambling))
        failed, _ = extract_twice(server, engine)
    assert failed.status is ExtractionStatus.MALFORMED
    assert failed.stats is not None and failed.stats.raw_text_chars == len(rambling)
    assert len(failed.stats.raw_text) <= STORED_AT_MOST
    assert json.loads(failed.model_dump_json())["stats"]["raw_text_chars"] == len(rambling)


def test_an_ordinary_answer_is_stored_whole_without_a_length() -> None:
    with StandInServer() as server:
        answer = json.dumps({"concepts": [], "instances": [], "relationships": []})
        server.reply("POST", "/v1/chat/completions", chat_completion(answer))
        settings = EndpointSettings(name="n", provider="vllm", base_url=server.base_url, model="m")
        chunk = chunk_document("notes/lock", "A canal lock raises boats.")[0]

        async def run() -> ChunkExtraction:
            provider = OpenAICompatibleProvider(settings)
            try:
                return await extract_chunk(provider, chunk)
            finally:
                await provider.aclose()

        record = asyncio.run(run())
    assert record.stats is not None
    assert (record.stats.raw_text, record.stats.raw_text_chars) == (answer, None)
