"""Soak: a run through hundreds of injected faults loses and duplicates nothing."""

import asyncio
from collections import Counter
from typing import Any

import pytest

from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.extraction.extract import extract_chunks
from kg_pipeline.extraction.records import ExtractionStatus
from kg_pipeline.middleware.resilient import ResilientProvider, RetryPolicy
from kg_pipeline.providers import EndpointSettings, create_provider
from tests.fault_server import FaultServer

CHUNKS = 120


@pytest.mark.parametrize("provider_name", ["ollama", "vllm"])
def test_every_chunk_ends_with_exactly_one_result_or_recorded_failure(provider_name: str) -> None:
    chunks = [
        chunk_document(f"soak/{i:03d}", f"The canal number {i} opened in 18{i % 100:02d}.")[0]
        for i in range(CHUNKS)
    ]
    with FaultServer(fault_rate=0.7, seed=7, hang_seconds=0.6) as server:
        settings = EndpointSettings(
            name="soak", provider=provider_name, base_url=server.base_url, model="m",
            timeout_seconds=0.3, max_concurrent_requests=8,
        )  # fmt: skip
        policy = RetryPolicy(
            max_retries=8, base_delay_seconds=0.001, max_delay_seconds=0.01, allowed_fails=10_000
        )
        provider = ResilientProvider(create_provider(settings), policy)

        async def run() -> Any:
            try:
                return await extract_chunks(provider, chunks)
            finally:
                await provider.aclose()

        records = asyncio.run(run())
        injected, requests = sum(server.injected.values()), server.requests
        kinds = dict(server.injected)
    ids = [r.chunk_id for r in records]
    assert sorted(ids) == sorted(c.chunk_id for c in chunks)  # none lost, none duplicated
    assert len(set(ids)) == CHUNKS
    for record in records:
        assert (record.status is ExtractionStatus.VALID) == (record.extraction is not None)
        assert (record.status is ExtractionStatus.VALID) == (record.error is None)
    assert injected >= 200
    assert set(kinds) == {
        "reset", "hang", "slow_drip", "http_429", "http_429_retry_after", "http_500",
        "http_503_retry_after", "malformed", "truncated", "empty", "thinking_only", "fenced",
    }  # fmt: skip
    statuses = Counter(r.status.value for r in records)
    stats = [r.stats for r in records if r.stats]
    print(
        f"\nsoak[{provider_name}]: {CHUNKS} chunks, {requests} requests, {injected} faults "
        f"injected {kinds}; outcomes {dict(statuses)}; retries "
        f"{sum(s.attempts - 1 for s in stats)}, re-asks {sum(s.reasks for s in stats)}, "
        f"budget retries {sum(s.budget_retries for s in stats)}, repaired "
        f"{sum(bool(s.repairs) for s in stats)}; lost 0, duplicated 0"
    )
