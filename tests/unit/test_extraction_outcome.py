"""What a run came to: the failure message of an incomplete run and the fallback summary."""

from kg_pipeline.extraction.outcome import fallback_summaries, incomplete_run_message
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.providers import CallStats

REFUSED = "cannot reach http://gpu-0:8000/v1/chat/completions: connection refused"


def record(
    n: int,
    status: ExtractionStatus,
    error: str | None = None,
    model: str = "m",
    **stats: object,
) -> ChunkExtraction:
    return ChunkExtraction(
        chunk_id=f"c{n}",
        document_id="d",
        endpoint="local",
        provider="vllm",
        model=model,
        vocabulary="base31",
        status=status,
        error=error,
        stats=CallStats(wall_seconds=1.0, **stats),  # type: ignore[arg-type]
    )


def test_a_complete_run_has_no_failure_message() -> None:
    records = [
        record(0, ExtractionStatus.VALID),
        record(1, ExtractionStatus.MALFORMED, "no JSON"),  # answered: not an outage
    ]
    assert incomplete_run_message(records) is None


def test_the_message_counts_the_unavailable_chunks_by_root_cause() -> None:
    records = [
        record(0, ExtractionStatus.UNAVAILABLE, REFUSED),
        record(1, ExtractionStatus.VALID),
        record(2, ExtractionStatus.UNAVAILABLE, REFUSED),
        record(3, ExtractionStatus.UNAVAILABLE, "http://gpu-0:8000 answered HTTP 500: boom"),
    ]
    message = incomplete_run_message(records)
    assert message is not None
    assert message.startswith(
        f"3 of 4 chunks unavailable: {REFUSED} (2 chunks); "
        "http://gpu-0:8000 answered HTTP 500: boom (1 chunk). "
    )
    assert "run again to send only these chunks" in message


def test_beyond_three_causes_the_rest_are_counted() -> None:
    records = [record(n, ExtractionStatus.UNAVAILABLE, f"cause {n}") for n in range(5)]
    message = incomplete_run_message(records)
    assert message is not None and "and 2 other causes (see the records file)" in message


def test_fallback_rate_and_added_seconds_per_model_asked_first() -> None:
    records = [
        record(0, ExtractionStatus.VALID, fallback_from="local", fallback_added_seconds=2.0),
        record(1, ExtractionStatus.VALID, fallback_from="local", fallback_added_seconds=4.0),
        record(2, ExtractionStatus.VALID),
        record(3, ExtractionStatus.VALID, cached=True),  # asked no model: not counted
        record(4, ExtractionStatus.VALID, model="other"),
    ]
    first, other = fallback_summaries(records)
    # "m" was asked by chunks 0-2: 2 of 3 fell back, adding (2 + 4) / 2 = 3 s on average.
    assert (first.model, first.asked, first.fell_back) == ("m", 3, 2)
    assert first.rate == 2 / 3
    assert (first.added_seconds_mean, first.added_seconds_max) == (3.0, 4.0)
    assert (other.model, other.asked, other.fell_back, other.rate) == ("other", 1, 0, 0.0)
