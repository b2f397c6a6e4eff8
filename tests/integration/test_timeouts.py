"""Read, connect and total timeouts, against a loopback server that drips its answer."""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider, ProviderUnavailable


@pytest.fixture
def dripping_server() -> Iterator[str]:
    """Answers 200 with a 40-byte body, one byte every 0.1 s: never silent for long, never done
    soon (4 s in all)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
        )
        try:
            for _ in range(40):
                conn.sendall(b" ")
                time.sleep(0.1)
        except OSError:
            pass
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def provider(url: str, **overrides: Any) -> OpenAICompatibleProvider:
    values: dict[str, Any] = {"name": "e", "provider": "vllm", "base_url": url, "model": "m"}
    return OpenAICompatibleProvider(EndpointSettings(**(values | overrides)))


def test_a_dripping_answer_is_cut_off_by_the_total_timeout(dripping_server: str) -> None:
    p = provider(dripping_server, timeout_seconds=1.0, total_timeout_seconds=0.5)
    started = time.perf_counter()
    with pytest.raises(
        ProviderUnavailable, match=r"longer than the total limit of 0\.5s"
    ) as failure:
        asyncio.run(p.extract(build_messages("x"), extraction_json_schema()))
    assert failure.value.timed_out
    assert time.perf_counter() - started < 2.0  # not the 4 s the drip would take


def test_connect_timeout_comes_from_the_settings() -> None:
    p = provider("http://127.0.0.1:9", connect_timeout_seconds=0.25, timeout_seconds=30)
    assert p._client.timeout.connect == 0.25 and p._client.timeout.read == 30
