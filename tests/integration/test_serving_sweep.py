"""The serving benchmark, run briefly against loopback servers that stream the way Ollama and
OpenAI-compatible servers do: it must produce a complete result file (timing is not asserted)."""

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.perf.load import run_rate, streaming_request
from kg_pipeline.perf.sweep import sweep
from kg_pipeline.providers import EndpointSettings
from tests.streaming_server import StreamingHandler, serve


@pytest.mark.parametrize("provider", ["ollama", "vllm"])
def test_a_short_sweep_writes_a_complete_result(
    streaming_server: str, provider: str, corpus: Path, tmp_path: Path
) -> None:
    settings = EndpointSettings(
        name=f"bench-{provider}", provider=provider, base_url=streaming_server, model="m"
    )
    path = sweep(settings, [1, 2], requests=4, corpus=corpus, out_dir=tmp_path / "out")
    result = json.loads(path.read_text())
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 2]
    for level in result["levels"]:
        assert level["profile"] == "concurrent" and level["rate"] is None
        assert (level["requests"], level["completed"], level["error_rate"]) == (4, 4, 0.0)
        # 4 requests x 4 output tokens from the server's counts.
        assert level["output_throughput"] == pytest.approx(16 / level["duration_s"])
        assert set(level["ttft_s"]) == {"p50", "p90", "p99"} and level["itl_s"]["p50"] > 0
        # The stand-in server listens in this very process, so this process is what is sampled.
        assert level["resources"]["pid"] == os.getpid()
        assert level["resources"]["rss_mib"]["max"] > 0
    assert result["knee_concurrency"] in {1, 2} and result["knee_rate"] is None
    assert result["hardware"]["cpu_cores"] >= 1
    assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_a_short_poisson_run_completes_every_request(
    streaming_server: str, corpus: Path, tmp_path: Path
) -> None:
    settings = EndpointSettings(
        name="bench-poisson", provider="vllm", base_url=streaming_server, model="m"
    )
    path = sweep(
        settings, [], requests=5, corpus=corpus, out_dir=tmp_path / "out", rates=[40.0, 20.0]
    )
    assert path.name == "serving-bench-poisson-poisson.json"
    result = json.loads(path.read_text())
    # Levels in rising rate, whatever order they were asked for.
    assert [(lv["profile"], lv["rate"]) for lv in result["levels"]] == [
        ("poisson", 20.0),
        ("poisson", 40.0),
    ]
    for level in result["levels"]:
        assert (level["requests"], level["completed"], level["error_rate"]) == (5, 5, 0.0)
        assert level["concurrency"] >= 1  # the most requests seen in flight at once
        assert level["output_throughput"] == pytest.approx(20 / level["duration_s"])
        assert level["e2el_s"]["p99"] >= level["ttft_s"]["p50"] > 0
    assert result["knee_rate"] in {20.0, 40.0} and result["knee_concurrency"] is None
    assert result["seed"] == 0
    assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


class BarrierHandler(StreamingHandler):
    """Answers nobody until five requests are waiting: only a client that keeps sending without
    waiting for answers (open loop) gets any answer; a closed loop of one would hang here."""

    barrier = threading.Barrier(5, timeout=20)

    def before_answering(self) -> None:
        self.barrier.wait()


def test_poisson_requests_start_on_schedule_without_waiting_for_answers() -> None:
    BarrierHandler.barrier.reset()
    with serve(BarrierHandler) as url:
        settings = EndpointSettings(name="open-loop", provider="ollama", base_url=url, model="m")
        request = streaming_request(
            settings, build_messages("A lock raises boats."), extraction_json_schema()
        )
        level = asyncio.run(run_rate(settings, [request] * 5, rate_per_second=50.0, warmup=0))
    assert [r.error for r in level.requests] == [None] * 5
    assert (level.concurrency, level.rate, level.profile) == (5, 50.0, "poisson")
