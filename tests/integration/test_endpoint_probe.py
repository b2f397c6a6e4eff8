"""`kg_endpoint_up` for a server that decodes one request at a time: it does not answer a probe
while it works (llama-cpp-python), which must read as busy soon after it answered a chunk, and as
down when it has not answered anything."""

import asyncio

from kg_pipeline.extraction import telemetry
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.providers import CallStats, EndpointSettings
from tests.stand_in_server import Reply, StandInServer


def up(name: str) -> float | None:
    return telemetry.REGISTRY.get_sample_value("kg_endpoint_up", {"endpoint": name})


def test_a_probe_timing_out_is_busy_after_an_answer_and_down_without_one() -> None:
    with StandInServer() as server:
        # Busy decoding: the model list comes only after the probe has given up.
        server.reply("GET", "/v1/models", Reply(body={"data": [{"id": "m"}]}, delay=1.5))
        settings = EndpointSettings(name="probe-busy", provider="llamacpp",
                                    base_url=server.base_url, model="m")  # fmt: skip
        asyncio.run(telemetry.probe_endpoint(settings, timeout_s=0.3))
        assert up("probe-busy") == 0  # never answered anything: down

        answered = ChunkExtraction(
            chunk_id="c", document_id="d", endpoint="probe-busy", provider="llamacpp", model="m",
            vocabulary="base31", status=ExtractionStatus.MALFORMED,
            stats=CallStats(wall_seconds=30.0, completion_tokens=400),
        )  # fmt: skip
        telemetry.observe_record(answered)  # a malformed answer is still an answer
        assert up("probe-busy") == 1
        asyncio.run(telemetry.probe_endpoint(settings, timeout_s=0.3))
        assert up("probe-busy") == 1  # timed out, but it answered a chunk just now: busy


def test_a_refused_connection_is_down_even_right_after_an_answer() -> None:
    with StandInServer() as server:
        base_url = server.base_url
    settings = EndpointSettings(name="probe-gone", provider="vllm", base_url=base_url, model="m")
    telemetry.observe_record(
        ChunkExtraction(
            chunk_id="c", document_id="d", endpoint="probe-gone", provider="vllm", model="m",
            vocabulary="base31", status=ExtractionStatus.VALID,
            stats=CallStats(wall_seconds=1.0),
        )
    )  # fmt: skip
    asyncio.run(telemetry.probe_endpoint(settings, timeout_s=0.3))
    assert up("probe-gone") == 0
