"""The Prometheus exporter, scraped over HTTP while real extractions run against loopback
OpenAI-compatible stand-ins (one that answers slowly, one that fails, one that is not there).

The registry is per process and shared by these tests, so each test extracts under an endpoint
name of its own and reads only the series that carry it.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.extraction.extract import extract_chunks
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.telemetry import LATENCY_BUCKETS, probe_endpoint, start_exporter
from kg_pipeline.middleware.cached import CachedProvider
from kg_pipeline.middleware.fallback import FallbackProvider
from kg_pipeline.providers import EndpointSettings, create_provider
from kg_pipeline.store.cache import SqlResponseCache
from kg_pipeline.store.database import create_engine
from tests.conftest import free_port
from tests.stand_in_server import Reply, StandInServer

CHAT = "/v1/chat/completions"


def answer(content: str, prompt_tokens: int, completion_tokens: int, delay: float) -> Reply:
    return Reply(
        body={
            "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
        delay=delay,
    )


EMPTY_GRAPH = json.dumps({"concepts": [], "instances": [], "relationships": []})


def valid(delay: float = 0.0) -> Reply:
    return answer(EMPTY_GRAPH, 10, 5, delay)


def malformed(delay: float = 0.0) -> Reply:
    return answer("Sorry, I cannot produce JSON for this text.", 12, 7, delay)


def chunks(count: int) -> list[Chunk]:
    texts = [f"Chunk {n} says that the {n}-rays cause warming." for n in range(count)]
    return [
        Chunk(
            chunk_id=f"c{n}-{uuid.uuid4().hex[:6]}",
            document_id="d",
            index=n,
            text=text,
            start_char=0,
            end_char=len(text),
            start_word=0,
            end_word=len(text.split()),
        )
        for n, text in enumerate(texts)
    ]


def endpoint(base_url: str, **overrides: Any) -> EndpointSettings:
    values: dict[str, Any] = {
        "name": f"metrics-{uuid.uuid4().hex[:8]}",
        "provider": "vllm",  # a fixed structured-output dialect: one request per chunk
        "base_url": base_url,
        "model": "local-7b",  # not in the price table: a local model
        "max_concurrent_requests": 1,  # requests in chunk order, so each gets its scripted reply
    }
    return EndpointSettings(**(values | overrides))


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> int:
    for name in ("KG_PRICES_FILE", "KG_BASELINE_MODEL", "KG_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)  # the shipped prices, gpt-4o as the baseline
    return start_exporter(0)  # the same port for every test of the process


async def scrape(port: int) -> list[Sample]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    return [s for f in text_string_to_metric_families(response.text) for s in f.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The one sample called ``name`` whose labels include ``labels``; None when there is none."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, f"{name} {labels} matches {len(found)} series"
    return found[0] if found else None


def buckets(samples: list[Sample], endpoint: str) -> dict[float, float]:
    return {
        float(s.labels["le"]): s.value
        for s in samples
        if s.name == "kg_extraction_seconds_bucket" and s.labels["endpoint"] == endpoint
    }


def test_a_scrape_during_the_run_sees_finished_chunks_and_the_end_sees_all(port: int) -> None:
    with StandInServer() as server:
        # Chunks are asked one at a time, in order: valid, valid, then a malformed answer that
        # takes 1.2 s, long enough to scrape while it is still being "decoded".
        server.reply("POST", CHAT, valid(0.2), valid(0.2), malformed(1.2))
        settings = endpoint(server.base_url)

        async def run() -> tuple[list[ChunkExtraction], list[Sample]]:
            async def scrape_mid_run() -> list[Sample]:
                while len(server.requests) < 3:  # the third chunk is in flight
                    await asyncio.sleep(0.01)
                return await scrape(port)

            provider = create_provider(settings)
            try:
                records, mid = await asyncio.gather(
                    extract_chunks(provider, chunks(3)), scrape_mid_run()
                )
            finally:
                await provider.aclose()
            return records, mid

        records, mid = asyncio.run(run())
        end = asyncio.run(scrape(port))

    statuses = [r.status for r in records]
    assert statuses == [ExtractionStatus.VALID] * 2 + [ExtractionStatus.MALFORMED]
    name, model = settings.name, settings.model
    ours = {"endpoint": name, "model": model}

    # Mid-run: two chunks done, both valid; every status already exists at zero.
    assert value(mid, "kg_chunks_total", **ours, status="valid") == 2
    assert value(mid, "kg_chunks_total", **ours, status="malformed") == 0
    assert value(mid, "kg_chunks_total", **ours, status="unavailable") == 0
    assert value(mid, "kg_extraction_seconds_count", endpoint=name) == 2

    # After: 2 valid + 1 malformed.
    assert value(end, "kg_chunks_total", **ours, status="valid") == 2
    assert value(end, "kg_chunks_total", **ours, status="malformed") == 1
    assert value(end, "kg_chunks_total", **ours, status="truncated") == 0
    assert value(end, "kg_extraction_seconds_count", endpoint=name, provider="vllm") == 3
    walls = [r.stats.wall_seconds for r in records if r.stats is not None]
    total = value(end, "kg_extraction_seconds_sum", endpoint=name)
    assert total == pytest.approx(sum(walls))
    assert total >= 0.2 + 0.2 + 1.2  # each call took at least its scripted delay
    # Cumulative buckets: the 0.2 s calls fall under 0.5, the 1.2 s call between 1 and 2.
    by_le = buckets(end, name)
    assert set(by_le) == {*map(float, LATENCY_BUCKETS), float("inf")}
    assert (by_le[0.5], by_le[1.0], by_le[2.0], by_le[600.0], by_le[float("inf")]) == (
        2, 2, 3, 3, 3,
    )  # fmt: skip
    # Tokens of all three calls, the malformed one included: 10+10+12 in, 5+5+7 out.
    assert value(end, "kg_input_tokens_total", **ours) == 32
    assert value(end, "kg_output_tokens_total", **ours) == 17
    # Saved: the two valid answers priced as gpt-4o ($2.50 in, $10.00 out per million):
    # 2 x (10 x 2.50 + 5 x 10.00) / 1e6 = 2 x 75e-6 = 1.5e-4 USD.
    saved = value(end, "kg_cost_saved_usd_total", **ours, baseline_model="gpt-4o")
    assert saved == pytest.approx(1.5e-4)
    assert value(end, "kg_fallbacks_total", endpoint=name, reason="error") == 0


def test_a_fallback_answer_counts_as_a_fallback_not_as_local_tokens_or_savings(
    port: int,
) -> None:
    with StandInServer() as local, StandInServer() as cloud:
        local.reply("POST", CHAT, Reply(503, {"error": "model is loading"}))
        cloud.reply("POST", CHAT, valid())
        settings = endpoint(local.base_url, fallback_endpoint="cloud")
        cloud_settings = endpoint(cloud.base_url, name="cloud", model="gpt-4o", provider="openai")

        async def run() -> list[ChunkExtraction]:
            provider = FallbackProvider(create_provider(settings), create_provider(cloud_settings))
            try:
                return await extract_chunks(provider, chunks(2))
            finally:
                await provider.aclose()

        records = asyncio.run(run())
        samples = asyncio.run(scrape(port))

    assert [r.stats.fallback_from if r.stats else None for r in records] == [settings.name] * 2
    ours = {"endpoint": settings.name, "model": settings.model}
    assert value(samples, "kg_chunks_total", **ours, status="valid") == 2
    assert value(samples, "kg_fallbacks_total", **ours, reason="error") == 2
    assert value(samples, "kg_fallbacks_total", **ours, reason="timeout") == 0
    # Fallback rate 2 fallbacks / 2 chunks = 1.0: FallbackRateHigh (> 0.2) would fire.
    assert value(samples, "kg_extraction_seconds_count", endpoint=settings.name) == 2
    assert value(samples, "kg_input_tokens_total", **ours) is None
    assert value(samples, "kg_cost_saved_usd_total", **ours) is None


def test_cached_chunks_are_counted_but_add_no_latency_or_tokens(port: int, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    with StandInServer() as server:
        server.reply("POST", CHAT, valid())
        settings = endpoint(server.base_url)
        work = chunks(2)

        async def run() -> list[ChunkExtraction]:
            provider = CachedProvider(create_provider(settings), SqlResponseCache(engine))
            try:
                return await extract_chunks(provider, work)
            finally:
                await provider.aclose()

        asyncio.run(run())
        again = asyncio.run(run())
        samples = asyncio.run(scrape(port))
        assert len(server.requests) == 2  # the second run made no call

    assert all(r.stats is not None and r.stats.cached for r in again)
    ours = {"endpoint": settings.name, "model": settings.model}
    assert value(samples, "kg_chunks_total", **ours, status="valid") == 4  # 2 runs x 2 chunks
    assert value(samples, "kg_extraction_seconds_count", endpoint=settings.name) == 2
    assert value(samples, "kg_input_tokens_total", **ours) == 20  # 2 calls x 10
    # 2 calls x 75e-6 USD (see the first test); the cached answers saved nothing new.
    assert value(samples, "kg_cost_saved_usd_total", **ours) == pytest.approx(1.5e-4)


def test_the_probe_marks_an_answering_endpoint_up_and_a_missing_one_down(port: int) -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", Reply(body={"data": [{"id": "local-7b"}]}))
        answering = endpoint(server.base_url)
        missing = endpoint(f"http://127.0.0.1:{free_port()}")  # nothing listens there

        async def probe_both() -> list[bool]:
            return list(await asyncio.gather(probe_endpoint(answering), probe_endpoint(missing)))

        assert asyncio.run(probe_both()) == [True, False]
        samples = asyncio.run(scrape(port))
    assert value(samples, "kg_endpoint_up", endpoint=answering.name) == 1
    assert value(samples, "kg_endpoint_up", endpoint=missing.name) == 0


@pytest.fixture
def gpu_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PATH holding only what the test puts there, so the host's GPUs never decide a result."""
    monkeypatch.setenv("PATH", str(tmp_path))
    yield tmp_path


def test_vram_is_read_per_gpu_at_scrape_time_and_absent_without_a_gpu_tool(
    port: int, gpu_tools: Path
) -> None:
    samples = asyncio.run(scrape(port))
    assert [s for s in samples if s.name.startswith("kg_gpu_memory")] == []  # no zero invented

    fake = gpu_tools / "nvidia-smi"
    # Two GPUs and one that cannot report (MIG shows [N/A]), in MiB as --format=nounits prints.
    fake.write_text(
        "#!/bin/sh\nprintf '0, 23400, 24576\\n1, 1024, 24576\\n2, [N/A], [N/A]\\n'\n",
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert os.access(fake, os.X_OK)
    samples = asyncio.run(scrape(port))
    mib = 1024**2
    assert value(samples, "kg_gpu_memory_used_bytes", gpu="0") == 23400 * mib
    assert value(samples, "kg_gpu_memory_total_bytes", gpu="0") == 24576 * mib
    assert value(samples, "kg_gpu_memory_used_bytes", gpu="1") == 1024 * mib
    assert value(samples, "kg_gpu_memory_used_bytes", gpu="2") is None
    # GPU 0 is 23400 / 24576 = 0.952 full: above 0.95, GPUMemoryNearlyFull's threshold.
