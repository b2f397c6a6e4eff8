"""Serving statistics on synthetic timings, expected values worked out by hand."""

import pytest

from kg_pipeline.perf.stats import LevelResult, RequestTiming, efficiency, knee, percentiles


def test_percentiles_interpolate_linearly() -> None:
    # 1..10: p50 = 5.5; p90 = 9 + 0.1*(10-9) = 9.1; p99 = 9 + 0.91 = 9.91.
    result = percentiles([float(v) for v in range(1, 11)])
    assert result == pytest.approx({"p50": 5.5, "p90": 9.1, "p99": 9.91})
    assert percentiles([]) == {}


def test_tpot_and_itl_of_one_request() -> None:
    timing = RequestTiming(ttft=0.5, e2el=2.5, token_times=(0.5, 1.0, 2.0, 2.5), output_tokens=5)
    # TPOT = (2.5 - 0.5) / (5 - 1) = 0.5; ITLs = 0.5, 1.0, 0.5.
    assert timing.tpot == 0.5
    assert timing.itls == [0.5, 1.0, 0.5]
    assert RequestTiming(ttft=None, e2el=1.0, error="refused").tpot is None


def test_level_throughputs_count_completed_requests_only() -> None:
    ok = RequestTiming(ttft=0.1, e2el=1.0, prompt_tokens=100, output_tokens=50)
    failed = RequestTiming(ttft=None, e2el=0.2, error="HTTP 503")
    level = LevelResult(concurrency=2, duration_s=10.0, requests=(ok, ok, ok, failed))
    # 3 completed of 4: error rate 0.25; output 150 tokens / 10 s = 15 tok/s; total 450 / 10 = 45;
    # 0.3 requests/s = 18 chunks/minute.
    assert level.error_rate == 0.25
    assert (level.output_throughput, level.total_token_throughput) == (15.0, 45.0)
    summary = level.summary()
    assert summary["chunks_per_minute"] == pytest.approx(18.0)
    assert summary["e2el_s"] == {"p50": 1.0, "p90": 1.0, "p99": 1.0}


def test_missing_server_counts_give_no_throughput_rather_than_zero() -> None:
    streamed = RequestTiming(ttft=0.1, e2el=1.0, token_times=(0.1, 0.2, 0.3))
    level = LevelResult(concurrency=1, duration_s=2.0, requests=(streamed,))
    # No usage counts: output throughput unknown; 3 streamed chunks / 2 s = 1.5 chunks/s.
    assert level.output_throughput is None and level.total_token_throughput is None
    assert level.streamed_chunk_throughput == 1.5


def test_knee_is_the_last_concurrency_that_still_raised_throughput_by_ten_percent() -> None:
    # 1 -> 2: +90 %; 2 -> 4: +47 %; 4 -> 8: +5 % (flat): the knee is 4.
    assert knee([(1, 10.0), (2, 19.0), (4, 28.0), (8, 29.4)]) == 4
    assert knee([(1, 10.0), (2, 10.5)]) == 1
    assert knee([]) is None


def test_efficiency_is_the_pipelines_share_of_the_raw_rate() -> None:
    # 29.1 chunks/min through the pipeline against 30.0 raw: 0.97.
    assert efficiency(29.1, 30.0) == pytest.approx(0.97)
    assert efficiency(5.0, 0.0) == 0.0
