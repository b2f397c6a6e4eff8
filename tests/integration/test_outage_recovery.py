"""Outages against real loopback servers: a cooling endpoint delays calls rather than failing
them, one chunk's 500s never cool the endpoint down for the others, an outage past the run's
budget fails the waiting chunks with their root cause, and failed records keep their seconds.

The extraction loop (``extract_chunks``) and the retry layer are the real ones; only the server
misbehaves, and the policies are short so each test takes seconds."""

import asyncio
import threading
import time
from collections import Counter
from typing import Any

from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.extraction.extract import extract_chunks
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.middleware.resilient import ResilientProvider, RetryPolicy
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider
from tests.outage_server import POISON, OutageServer, SocketServer, unused_port

FAST = {"base_delay_seconds": 0.02, "max_delay_seconds": 0.1}


def chunks(n: int, poisoned: frozenset[int] = frozenset()) -> list[Chunk]:
    texts = [
        f"Chunk {i}: the canal has a lock." + (f" {POISON}" if i in poisoned else "")
        for i in range(n)
    ]
    return [
        Chunk(
            chunk_id=f"c{i:03d}", document_id="d", index=i, text=text,
            start_char=0, end_char=len(text), start_word=0, end_word=5,
        )
        for i, text in enumerate(texts)
    ]  # fmt: skip


def resilient(url: str, log: list[str] | None = None, **policy: Any) -> ResilientProvider:
    settings = EndpointSettings(
        name="local",
        provider="vllm",
        base_url=url,
        model="m",
        timeout_seconds=5,
        max_concurrent_requests=2,
    )
    return ResilientProvider(
        OpenAICompatibleProvider(settings),
        RetryPolicy(**(FAST | policy)),
        on_outage=log.append if log is not None else None,
    )


def run(provider: ResilientProvider, work: list[Chunk]) -> list[ChunkExtraction]:
    async def go() -> list[ChunkExtraction]:
        try:
            return await extract_chunks(provider, work)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def statuses(records: list[ChunkExtraction]) -> Counter[str]:
    return Counter(r.status.value for r in records)


def test_a_cooling_endpoint_delays_chunks_until_it_answers_again() -> None:
    log: list[str] = []
    server = OutageServer(delay=0.05).start()
    try:
        provider = resilient(
            server.base_url, log, allowed_fails=2, cooldown_seconds=0.2, outage_budget_seconds=20
        )
        # Killed after the 4th request for 1.0 s: every chunk still in the run meets the outage.
        server.kill_for(1.0, after_requests=4)
        records = run(provider, chunks(12))
    finally:
        server.stop()
    assert statuses(records) == {"valid": 12}, [r.error for r in records]
    assert provider.outages == 1
    assert server.restarted_at is not None
    # The restarted server took the rest of the run: at least the 8 chunks not yet answered
    # (requests that were in flight when it died are sent again).
    assert server.requests_since(server.restarted_at) >= 8
    assert "local is down after 2 consecutive failures" in log[0]
    # The root cause names the URL: a request dropped by the dying server, or refused after.
    assert f"cannot reach {server.base_url}/v1/chat/completions" in log[0]
    assert "answers again" in log[-1]


def test_one_chunks_http_500s_never_fail_the_other_chunks() -> None:
    poisoned = frozenset({2, 3, 4})
    with OutageServer() as server:
        provider = resilient(server.base_url, allowed_fails=2, max_retries=2)
        records = run(provider, chunks(20, poisoned))
    assert statuses(records) == {"valid": 17, "unavailable": 3}
    failed = {r.chunk_id for r in records if r.status is ExtractionStatus.UNAVAILABLE}
    assert failed == {"c002", "c003", "c004"}
    # 17 healthy chunks once each, and 3 poisoned ones 1 + 2 retries each: 17 + 3 x 3 = 26.
    assert len(server.served) == 26
    assert provider.outages == 0
    for record in records:
        if record.status is ExtractionStatus.UNAVAILABLE:
            assert record.error is not None
            assert f"{server.base_url}/v1/chat/completions answered HTTP 500" in record.error


def test_an_outage_past_the_budget_fails_the_waiting_chunks_with_their_root_cause() -> None:
    url = f"http://127.0.0.1:{unused_port()}"  # nothing listens: connections are refused
    provider = resilient(url, allowed_fails=2, cooldown_seconds=0.2, outage_budget_seconds=1.0)
    started = time.monotonic()
    records = run(provider, chunks(6))
    took = time.monotonic() - started
    assert statuses(records) == {"unavailable": 6}
    for record in records:
        assert record.error is not None
        assert record.error.startswith(f"cannot reach {url}/v1/chat/completions")
        assert "connection refused" in record.error
        assert "outage budget of 1s" in record.error
        assert "cooling down" not in record.error
    # The budget bounds the run: chunks waited about 1 s for the endpoint, not a cooldown each.
    assert 1.0 <= took < 10.0
    waited = [r.stats.wall_seconds for r in records if r.stats]
    assert len(waited) == 6 and max(waited) >= 0.9


def test_after_the_budget_a_probe_still_finds_the_endpoint_back() -> None:
    server = OutageServer()
    provider = resilient(
        server.base_url, allowed_fails=1, cooldown_seconds=0.1, outage_budget_seconds=0.3
    )

    async def go() -> tuple[list[ChunkExtraction], list[ChunkExtraction]]:
        first = await extract_chunks(provider, chunks(2))  # nothing listens: the budget runs out
        server.start()
        await asyncio.sleep(0.15)  # the cooldown ends: the next call goes through as a probe
        second = await extract_chunks(provider, chunks(3))
        await provider.aclose()
        return first, second

    try:
        first, second = asyncio.run(go())
    finally:
        server.stop()
    assert statuses(first) == {"unavailable": 2}
    assert statuses(second) == {"valid": 3}
    assert len(server.served) == 3


def test_a_failed_record_reports_the_seconds_it_really_took() -> None:
    with SocketServer("hang") as server:
        settings = EndpointSettings(
            name="local", provider="vllm", base_url=server.base_url, model="m",
            timeout_seconds=0.3, max_retries=2,
        )  # fmt: skip
        provider = ResilientProvider(
            OpenAICompatibleProvider(settings), RetryPolicy(max_retries=2, **FAST)
        )
        [record] = run(provider, chunks(1))
        assert server.accepted == 3
    assert record.status is ExtractionStatus.UNAVAILABLE
    assert record.stats is not None and record.stats.attempts == 3
    # Three read timeouts of 0.3 s: at least 0.9 s, where the record used to say 0.0 s.
    assert record.stats.wall_seconds >= 0.9
    assert record.error is not None and "did not answer within 0.3s" in record.error


def test_a_chunk_whose_every_try_finds_the_server_down_waits_for_it_like_the_others() -> None:
    # One chunk alone, 2 tries (max_retries 1) against a server stopped for 0.6 s: fewer
    # failures than allowed_fails (5), yet no call was answered in between, so it is an outage
    # and the chunk waits for the restart instead of failing after its own retries.
    log: list[str] = []
    server = OutageServer().start()
    try:
        server.stop()
        threading.Timer(0.6, server.start).start()
        provider = resilient(
            server.base_url,
            log,
            max_retries=1,
            allowed_fails=5,
            cooldown_seconds=0.2,
            outage_budget_seconds=20,
        )
        records = run(provider, chunks(1))
    finally:
        server.stop()
    assert statuses(records) == {"valid": 1}, [r.error for r in records]
    assert provider.outages == 1 and len(server.served) == 1
    assert "local is down after 2 consecutive failures" in log[0]
