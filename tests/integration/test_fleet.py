"""A fleet of replicas of one model against real loopback servers of set speeds.

Each server answers after a fixed latency (a model decoding) and counts, on its own side, how
many requests it saw and how many it held at once. The assertions are about proportions, never
absolute times, so they hold on a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.extraction.extract import extract_chunks
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.middleware.fleet import FleetProvider
from kg_pipeline.middleware.resilient import ResilientProvider, RetryPolicy
from kg_pipeline.providers import (
    EndpointSettings,
    ExtractionProvider,
    OpenAICompatibleProvider,
    ProviderUnavailable,
)
from tests.stand_in_server import EMPTY_EXTRACTION

ANSWER = json.dumps(EMPTY_EXTRACTION.body).encode()


class PacedServer:
    """An OpenAI-compatible server that answers every request after ``latency`` seconds, or
    with 503 + Retry-After for its first ``failures`` requests; it measures its own load."""

    def __init__(self, latency: float, failures: int = 0, retry_after: str = "0") -> None:
        self.latency = latency
        self.failures = failures
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, HTTP status answered)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = server._arrive()
                if status == 200:
                    time.sleep(server.latency)
                body = ANSWER if status == 200 else b'{"error": "overloaded"}'
                # Counted out before answering: once the client has the answer it may send the
                # next request, which must not find this one still counted.
                server._leave()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status != 200:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def _arrive(self) -> int:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            status = 503 if self.requests <= self.failures else 200
            self.arrivals.append((time.monotonic(), status))
            return status

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> PacedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def replica(name: str, server: PacedServer) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        EndpointSettings(
            name=name, provider="llamacpp", base_url=server.base_url, model="m", timeout_seconds=30
        )
    )


def cooling(name: str, server: PacedServer, **policy: Any) -> ResilientProvider:
    """A replica as ``provider_stack`` wraps it: a call it cannot serve because it is down comes
    back at once, for the fleet to send elsewhere."""
    return ResilientProvider(
        replica(name, server), RetryPolicy(fail_fast_when_unreachable=True, **policy)
    )


def chunks(n: int) -> list[Chunk]:
    text = "The canal has a lock."
    return [
        Chunk(
            chunk_id=f"c{i:03d}", document_id="d", index=i, text=text,
            start_char=0, end_char=len(text), start_word=0, end_word=5,
        )
        for i in range(n)
    ]  # fmt: skip


def run_chunks(fleet: FleetProvider, n: int) -> list[ChunkExtraction]:
    """The real extraction loop: at most ``fleet.settings.max_concurrent_requests`` in flight."""

    async def run() -> list[ChunkExtraction]:
        try:
            return await extract_chunks(fleet, chunks(n))
        finally:
            await fleet.aclose()

    return asyncio.run(run())


def served_by(records: Iterable[ChunkExtraction]) -> Counter[str | None]:
    return Counter(r.stats.served_by if r.stats else None for r in records)


def paced_servers(stack: ExitStack, *latencies: float) -> list[PacedServer]:
    return [stack.enter_context(PacedServer(latency)) for latency in latencies]


def test_work_spreads_in_proportion_to_server_speed() -> None:
    with ExitStack() as stack:
        servers = paced_servers(stack, 0.1, 0.2, 0.4)
        names = ["fast", "medium", "slow"]
        fleet = FleetProvider([(replica(n, s), 1) for n, s in zip(names, servers, strict=True)])
        records = run_chunks(fleet, 60)
    counts = served_by(records)
    shares = [counts[name] / 60 for name in names]
    # Each server, always busy, answers 1/0.1 : 1/0.2 : 1/0.4 = 10 : 5 : 2.5 requests a second,
    # so shares 4/7, 2/7, 1/7 = 0.571, 0.286, 0.143 (34.3, 17.1, 8.6 of 60 chunks).
    # Tolerance 0.08: per-request overhead (HTTP, validation, threads on 2 loaded cores) adds the
    # same to each latency and pulls shares toward even: 50 ms gives 0.52/0.31/0.17, 80 ms
    # 0.49/0.32/0.19; the run's end moves at most a chunk or two (0.03). An even split (0.333)
    # stays 0.24 away from the fast server's share, so this still tells proportion from evenness.
    for share, expected in zip(shares, [4 / 7, 2 / 7, 1 / 7], strict=True):
        assert share == pytest.approx(expected, abs=0.08), (shares, counts)
    assert shares[0] > shares[1] > shares[2]
    assert all(r.status is ExtractionStatus.VALID for r in records)
    # The servers saw what the fleet says it sent, and so did the fleet's own counters.
    assert [s.requests for s in servers] == [counts[name] for name in names]
    assert [m.served for m in fleet.members] == [counts[name] for name in names]


def test_equal_servers_get_within_ten_percent_of_even() -> None:
    with ExitStack() as stack:
        servers = paced_servers(stack, 0.1, 0.1, 0.1)
        fleet = FleetProvider([(replica(f"r{i}", s), 1) for i, s in enumerate(servers)])
        records = run_chunks(fleet, 60)
    counts = served_by(records)
    # Even is 60 / 3 = 20 each; ±10 % is 18..22.
    assert all(18 <= counts[f"r{i}"] <= 22 for i in range(3)), counts
    assert sum(s.requests for s in servers) == 60


def test_no_server_sees_more_requests_at_once_than_its_slots() -> None:
    slots = [1, 2, 3]
    with ExitStack() as stack:
        servers = paced_servers(stack, 0.15, 0.15, 0.15)
        fleet = FleetProvider(
            [(replica(f"r{i}", s), n) for i, (s, n) in enumerate(zip(servers, slots, strict=True))]
        )
        assert fleet.settings.max_concurrent_requests == 6  # 1 + 2 + 3

        async def flood() -> None:
            # 40 calls at once, with no bound of the caller's: only the fleet holds them back.
            schema = extraction_json_schema()
            await asyncio.gather(*(fleet.extract(build_messages("x"), schema) for _ in range(40)))
            await fleet.aclose()

        asyncio.run(flood())
    # At most its slots, and all of them used: 40 calls kept every slot busy.
    assert [s.peak_in_flight for s in servers] == slots
    assert sum(s.requests for s in servers) == 40
    assert all(m.in_flight == 0 for m in fleet.members)


def test_a_cooling_member_receives_nothing_and_its_chunks_go_to_the_others() -> None:
    with ExitStack() as stack:
        healthy = paced_servers(stack, 0.1, 0.1)
        failing = stack.enter_context(PacedServer(0.1, failures=10**6))
        policy = {"max_retries": 1, "allowed_fails": 2, "cooldown_seconds": 60}
        fleet = FleetProvider(
            [
                (cooling("a", healthy[0], **policy), 1),
                (cooling("b", healthy[1], **policy), 1),
                (cooling("c", failing, **policy), 1),
            ]
        )
        records = run_chunks(fleet, 30)
    # c's one chunk: 503, retried after Retry-After (0 s), 503 again: two consecutive failures,
    # so c cools down for 60 s, longer than the run, and hands the chunk back; the fleet sends
    # it to a or b. No chunk is lost to c's outage.
    assert failing.requests == 2
    assert all(r.status is ExtractionStatus.VALID for r in records)
    counts = served_by(records)
    assert counts["a"] + counts["b"] == 30 and "c" not in counts
    assert [m.failed for m in fleet.members] == [0, 0, 1]


def test_when_every_member_is_cooling_the_call_waits_for_the_first_to_recover() -> None:
    cooldown = 0.5
    with ExitStack() as stack:
        servers = [stack.enter_context(PacedServer(0.05, failures=1)) for _ in range(2)]
        policy = {"max_retries": 0, "allowed_fails": 1, "cooldown_seconds": cooldown}
        fleet = FleetProvider([(cooling(f"r{i}", s, **policy), 1) for i, s in enumerate(servers)])

        async def call() -> str | None:
            # Each member answers its first request with 503 and cools down: the call goes
            # from one to the other, then waits for the first to recover.
            result = await fleet.extract(build_messages("x"), extraction_json_schema())
            await fleet.aclose()
            return result.stats.served_by

        answered_by = asyncio.run(call())
    # The call waited rather than failing, and the member that answered took it only after its
    # cooldown: at least 0.5 s after its 503, measured on the server's clock.
    index = int(str(answered_by)[1:])
    (failed_at, first), (answered_at, second) = servers[index].arrivals
    assert (first, second) == (503, 200)
    assert answered_at - failed_at >= cooldown
    assert sum(s.requests for s in servers) == 3


def test_a_fleet_in_front_of_a_fallback_does_not_wait_for_its_members() -> None:
    with ExitStack() as stack:
        servers = [stack.enter_context(PacedServer(0.05, failures=10**6)) for _ in range(2)]
        policy = {"max_retries": 0, "allowed_fails": 1, "cooldown_seconds": 60}
        fleet = FleetProvider(
            [(cooling(f"r{i}", s, **policy), 1) for i, s in enumerate(servers)],
            fail_fast_when_unreachable=True,
        )

        async def call() -> None:
            try:
                await fleet.extract(build_messages("x"), extraction_json_schema())
            finally:
                await fleet.aclose()

        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="answered HTTP 503"):
            asyncio.run(call())
    # Both members were tried once and are cooling for 60 s: the error comes back at once, for
    # the fallback to answer, instead of after a cooldown.
    assert [s.requests for s in servers] == [1, 1]
    assert time.monotonic() - started < 30


def test_replicas_of_different_models_are_refused() -> None:
    def endpoint(model: str) -> ExtractionProvider:
        return OpenAICompatibleProvider(
            EndpointSettings(
                name=model, provider="llamacpp", base_url="http://127.0.0.1:9", model=model
            )
        )

    with pytest.raises(ValueError, match="one model"):
        FleetProvider([(endpoint("qwen"), 1), (endpoint("llama"), 1)])
