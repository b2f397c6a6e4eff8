"""A real fleet: two llama-server processes with 1 and 2 slots behind one FleetProvider.

The other fleet tests use paced stand-ins that count their own load; here the servers say it
themselves. llama-server's ``/metrics`` gauges ``requests_processing`` (slots decoding) and
``requests_deferred`` (requests queued because no slot was free; tools/server/server-context.cpp
fills both from its slots and its deferred-task queue), read every 50 ms while the fleet is
flooded with more calls than the two servers have slots together.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.middleware.fleet import FleetProvider
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider
from kg_pipeline.serving.local_model import MODEL_ALIAS
from kg_pipeline.serving.local_server import LocalServer
from tests.conftest import free_port

# A short answer keeps each call near a second on a shared 2-core CPU.
SCHEMA = {
    "type": "object",
    "properties": {"word": {"type": "string", "maxLength": 12}},
    "required": ["word"],
    "additionalProperties": False,
}
MESSAGES = PromptMessages(
    system="Answer with one JSON object.",
    example_user="Name one tool.",
    example_assistant='{"word": "hammer"}',
    user="Name one fruit.",
)


class MetricsWatcher:
    """The highest ``requests_processing`` and ``requests_deferred`` a server reported."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.peak = {"requests_processing": 0.0, "requests_deferred": 0.0}
        self.tokens_predicted = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def read(self) -> dict[str, float]:
        text = httpx.get(f"{self.base_url}/metrics", timeout=5).text
        return {
            name: float(value)
            for name, value in re.findall(r"^llamacpp:(\w+) (\S+)$", text, flags=re.MULTILINE)
        }

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            values = self.read()
            for gauge in self.peak:
                self.peak[gauge] = max(self.peak[gauge], values[gauge])

    def __enter__(self) -> MetricsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.tokens_predicted = self.read()["tokens_predicted_total"]


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[LocalServer]]:
    # One thread each: two servers share the 2 cores. A small context per slot: the prompt is
    # a few dozen tokens.
    servers = [
        LocalServer(
            port=free_port(), threads=1, slots=slots, slot_context_tokens=1024,
            state_dir=tmp_path / f"s{slots}",
        )
        for slots in (1, 2)
    ]  # fmt: skip
    with ExitStack() as stack:
        for server in servers:
            server.start()
            stack.callback(server.stop)
        yield servers


@pytest.mark.real_model
def test_a_fleet_of_two_llama_servers_never_queues_a_request_on_either(
    two_servers: list[LocalServer],
) -> None:
    fleet = FleetProvider(
        [
            (
                OpenAICompatibleProvider(
                    EndpointSettings(
                        name=f"np{server.slots}", provider="llamacpp", base_url=server.base_url,
                        model=MODEL_ALIAS, max_output_tokens=16, timeout_seconds=120,
                        structured_output="json_schema",
                    )
                ),
                server.slots,
            )
            for server in two_servers
        ]
    )  # fmt: skip
    assert fleet.settings.max_concurrent_requests == 3

    async def flood() -> list[object]:
        # 12 calls at once, with no bound of the caller's: only the fleet holds them back.
        try:
            return await asyncio.gather(
                *(fleet.extract(MESSAGES, SCHEMA) for _ in range(12)), return_exceptions=True
            )
        finally:
            await fleet.aclose()

    with ExitStack() as stack:
        watchers = [stack.enter_context(MetricsWatcher(s.base_url)) for s in two_servers]
        results = asyncio.run(flood())

    assert not [r for r in results if isinstance(r, BaseException)], results
    # Each server decoded as many requests at once as it has slots, and never had one waiting.
    assert [w.peak["requests_processing"] for w in watchers] == [1, 2]
    assert [w.peak["requests_deferred"] for w in watchers] == [0, 0]
    assert all(w.tokens_predicted > 0 for w in watchers)
