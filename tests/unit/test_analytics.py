"""Cost and latency per provider/model from a run's chunk records: every expected figure is worked
out by hand beside it, against a price file of the test's own (prices below)."""

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from kg_pipeline.contract.pricing import PriceFileError
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.run_analytics import ModelRef, nearest_rank, summarise_run
from kg_pipeline.providers.base import CallStats
from kg_pipeline.store.analytics import combine, fallback_rate_text, savings

PRICES = {
    "usd_per_million_tokens": {
        "gpt-4o": {"input": 2.50, "output": 10.00},
        "gpt-4o-mini": {"input": 0.15, "output": 0.60},
    },
    "local_gpu_per_hour": {},
}
MISTRAL = {"provider": "ollama", "model": "mistral:7b-instruct", "endpoint": "gpu0"}
GPT4O = {"provider": "openai", "model": "gpt-4o", "endpoint": "cloud"}


def write_prices(path: Path, **changes: Any) -> Path:
    path.write_text(json.dumps(PRICES | changes))
    return path


@pytest.fixture(autouse=True)
def prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KG_GPU_COST_PER_HOUR", raising=False)
    path = write_prices(tmp_path / "prices.json")
    monkeypatch.setenv("KG_PRICES_FILE", str(path))
    return path


def call(
    prompt: int | None = None, completion: int | None = None, seconds: float = 1.0, **more: Any
) -> CallStats:
    return CallStats(prompt_tokens=prompt, completion_tokens=completion, wall_seconds=seconds,
                     **more)  # fmt: skip


def record(
    who: dict[str, str],
    stats: CallStats | None,
    status: ExtractionStatus = ExtractionStatus.VALID,
    chunk: str = "c",
) -> ChunkExtraction:
    return ChunkExtraction(chunk_id=chunk, document_id="d", vocabulary="base31", status=status,
                           stats=stats, **who)  # fmt: skip


def test_cloud_tokens_are_billed_at_input_and_output_prices_to_the_cent() -> None:
    rows = summarise_run([
        record(GPT4O, call(1_000_000, 40_000, seconds=2.0)),
        record(GPT4O, call(234_567, 20_000, seconds=4.0)),
    ])  # fmt: skip
    (row,) = rows
    # input 1,234,567 x $2.50 / 1e6 = $3.0864175; output 60,000 x $10 / 1e6 = $0.60
    # total $3.6864175 -> $3.69
    assert (row.provider, row.model, row.chunks) == ("openai", "gpt-4o", 2)
    assert (row.input_tokens, row.output_tokens) == (1_234_567, 60_000)
    assert row.cost_usd == pytest.approx(3.6864175, abs=1e-9)
    assert f"{row.cost_usd:.2f}" == "3.69"
    assert row.gpu_hours == 0.0  # a priced model is billed by tokens, not by time
    # mean (2 + 4) / 2 = 3; nearest-rank p95 of 2 values: rank ceil(1.9) = 2 -> 4
    assert (row.latency_mean_seconds, row.latency_p95_seconds) == (3.0, 4.0)


def test_a_local_model_without_a_gpu_rate_costs_nothing_but_its_gpu_hours_count() -> None:
    (row,) = summarise_run([
        record(MISTRAL, call(2_000_000, 500_000, seconds=1800.0)),
        record(MISTRAL, call(1_000, 100, seconds=900.0)),
    ])  # fmt: skip
    # (1800 + 900) s / 3600 = 0.75 h, at no rate: $0
    assert (row.cost_usd, row.gpu_hours) == (0.0, 0.75)
    assert (row.input_tokens, row.output_tokens) == (2_001_000, 500_100)


def test_a_gpu_rate_in_the_price_file_amortises_call_seconds(
    prices: Path,
) -> None:
    write_prices(prices, local_gpu_per_hour={"mistral:7b-instruct": 2.5})
    (row,) = summarise_run([
        record(MISTRAL, call(seconds=1200.0)),
        record(MISTRAL, call(seconds=600.0)),
        record(MISTRAL, call(seconds=1800.0)),
    ])  # fmt: skip
    # 1200 + 600 + 1800 = 3600 s = 1 h x $2.50 = $2.50
    assert row.cost_usd == pytest.approx(2.50)
    assert row.gpu_hours == pytest.approx(1.0)
    # mean 3600 / 3 = 1200; p95 of 3: rank ceil(2.85) = 3 -> the largest, 1800
    assert (row.latency_mean_seconds, row.latency_p95_seconds) == (1200.0, 1800.0)


def test_the_endpoint_rate_wins_over_the_model_rate_and_the_environment_covers_the_rest(
    prices: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_prices(prices, local_gpu_per_hour={"gpu0": 4.0, "mistral:7b-instruct": 2.5})
    monkeypatch.setenv("KG_GPU_COST_PER_HOUR", "1.2")
    gpu1 = MISTRAL | {"endpoint": "gpu1"}
    llama = {"provider": "vllm", "model": "llama-3.1-8b", "endpoint": "gpu2"}
    mistral, other = summarise_run([
        record(MISTRAL, call(seconds=1800.0)),
        record(gpu1, call(seconds=1800.0)),
        record(llama, call(seconds=3000.0)),
    ])  # fmt: skip
    # gpu0: 1800 s x $4.00 / 3600 = $2.00; gpu1 (model rate): 1800 x $2.50 / 3600 = $1.25
    assert mistral.cost_usd == pytest.approx(3.25)
    # llama-3.1-8b is in neither table: KG_GPU_COST_PER_HOUR, 3000 s x $1.20 / 3600 = $1.00
    assert other.model == "llama-3.1-8b" and other.cost_usd == pytest.approx(1.00)


def test_cached_chunks_cost_nothing_and_add_no_tokens_or_latency() -> None:
    (row,) = summarise_run([
        record(GPT4O, call(1_000_000, 100_000, seconds=9.0, cached=True)),
        record(GPT4O, call(100_000, 10_000, seconds=2.0)),
    ])  # fmt: skip
    # only the live call: 100,000 x $2.50 / 1e6 + 10,000 x $10 / 1e6 = 0.25 + 0.10 = $0.35
    assert row.cost_usd == pytest.approx(0.35)
    assert (row.chunks, row.cached_chunks, row.model_calls) == (2, 1, 1)
    assert (row.input_tokens, row.latency_mean_seconds, row.success_rate) == (100_000, 2.0, 1.0)


def test_a_fallback_answer_is_billed_to_the_fallback_model() -> None:
    fell_back = call(10_000, 2_000, seconds=3.0, fallback_from="gpu0", fallback_cost_usd=0.0027)
    records = [record(MISTRAL, call(5_000, 500, seconds=10.0)), record(MISTRAL, fell_back)]
    mini = ModelRef("openai", "gpt-4o-mini", "cloud-mini")
    local, cloud = summarise_run(records, {"gpu0": mini})
    assert (local.model, local.chunks, local.fallbacks, local.cost_usd) == (
        "mistral:7b-instruct", 1, 0, 0.0)  # fmt: skip
    # gpt-4o-mini: 10,000 x $0.15 / 1e6 + 2,000 x $0.60 / 1e6 = 0.0015 + 0.0012 = $0.0027
    assert (cloud.provider, cloud.model, cloud.chunks, cloud.fallbacks) == (
        "openai", "gpt-4o-mini", 1, 1)  # fmt: skip
    assert cloud.cost_usd == pytest.approx(0.0027)
    assert (cloud.latency_mean_seconds, cloud.gpu_hours) == (3.0, 0.0)


def test_a_fallback_whose_model_is_unknown_is_billed_what_the_call_recorded() -> None:
    fell_back = call(10_000, 2_000, seconds=3.0, fallback_from="gpu0", fallback_cost_usd=0.0027)
    _, unknown = summarise_run([record(MISTRAL, call(seconds=1.0)), record(MISTRAL, fell_back)])
    assert (unknown.provider, unknown.model) == ("unresolved", "fallback of gpu0")
    assert unknown.cost_usd == pytest.approx(0.0027) and unknown.gpu_hours == 0.0


def test_failed_chunks_lower_the_success_rate_and_billed_failures_still_cost() -> None:
    (row,) = summarise_run([
        record(GPT4O, call(10_000, 1_000, seconds=2.0)),
        record(GPT4O, call(4_000, 1_000, seconds=4.0), ExtractionStatus.MALFORMED),
        record(GPT4O, None, ExtractionStatus.UNAVAILABLE),
    ])  # fmt: skip
    # 1 valid of 3; tokens 14,000 in x $2.50 / 1e6 = 0.035 + 2,000 out x $10 / 1e6 = 0.02
    # = $0.055; two timed calls, mean (2 + 4) / 2 = 3
    assert (row.chunks, row.valid_chunks, row.model_calls) == (3, 1, 2)
    assert row.success_rate == pytest.approx(1 / 3)
    assert row.cost_usd == pytest.approx(0.055)
    assert row.latency_mean_seconds == 3.0


def test_a_model_switch_mid_run_gives_one_row_per_model_in_order_of_use() -> None:
    rows = summarise_run([
        record(MISTRAL, call(1_000, 100)),
        record(GPT4O, call(1_000_000, 0)),
        record(MISTRAL, call(1_000, 100)),
    ])  # fmt: skip
    assert [(r.model, r.chunks) for r in rows] == [("mistral:7b-instruct", 2), ("gpt-4o", 1)]
    assert [r.cost_usd for r in rows] == [0.0, pytest.approx(2.50)]  # 1e6 x $2.50 / 1e6


def test_p95_is_the_nearest_rank_observed_value() -> None:
    # 20 values: rank ceil(0.95 x 20) = 19 -> 19; 21 values: rank ceil(19.95) = 20 -> 20
    assert nearest_rank([float(v) for v in range(20, 0, -1)]) == 19.0
    assert nearest_rank([float(v) for v in range(1, 22)]) == 20.0
    # 100 values 1..100: rank 95 -> 95 (no interpolation toward 95.05)
    assert nearest_rank([float(v) for v in range(1, 101)]) == 95.0
    assert nearest_rank([7.5]) == 7.5 and nearest_rank([]) is None


def test_runs_combine_with_a_call_weighted_mean_and_the_highest_p95() -> None:
    first = summarise_run([record(GPT4O, call(100_000, 0, seconds=s)) for s in (1.0, 2.0, 3.0)])
    second = summarise_run([record(GPT4O, call(100_000, 0, seconds=6.0))])
    (row,) = combine([*first, *second])
    # calls 3 + 1 = 4; mean (2.0 x 3 + 6.0 x 1) / 4 = 3.0; p95 max(3.0, 6.0) = 6.0
    # cost 4 x 100,000 x $2.50 / 1e6 = $1.00
    assert (row.model_calls, row.latency_mean_seconds, row.latency_p95_seconds) == (4, 3.0, 6.0)
    assert row.cost_usd == pytest.approx(1.00) and row.chunks == 4


def test_savings_are_the_same_tokens_on_the_baseline_minus_the_actual_cost() -> None:
    fell_back = call(10_000, 2_000, seconds=3.0, fallback_from="gpu0")
    rows = summarise_run(
        [record(MISTRAL, call(2_000_000, 500_000)), record(MISTRAL, fell_back)],
        {"gpu0": ModelRef("openai", "gpt-4o-mini")},
    )
    saved = savings(rows, "gpt-4o")
    # on gpt-4o: (2,010,000 x $2.50 + 502,000 x $10) / 1e6 = 5.025 + 5.02 = $10.045
    # actual: $0 local + $0.0027 gpt-4o-mini; saved 10.045 - 0.0027 = $10.0423 -> $10.04
    assert saved.baseline_cost_usd == pytest.approx(10.045)
    assert saved.actual_cost_usd == pytest.approx(0.0027)
    assert f"{saved.usd:.2f}" == "10.04"


def test_an_unpriced_baseline_model_names_the_price_file(prices: Path) -> None:
    expected = rf"'gpt-5' has no price in {re.escape(str(prices))} \(priced: gpt-4o, gpt-4o-mini\)"
    with pytest.raises(PriceFileError, match=expected):
        savings([], "gpt-5")


def test_an_edited_price_file_applies_to_the_next_summary(prices: Path) -> None:
    records = [record(GPT4O, call(1_000_000, 0))]
    assert summarise_run(records)[0].cost_usd == pytest.approx(2.50)
    write_prices(prices, usd_per_million_tokens={"gpt-4o": {"input": 5.0, "output": 15.0}})
    stat = prices.stat()
    os.utime(prices, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a later edit
    assert summarise_run(records)[0].cost_usd == pytest.approx(5.00)  # 1e6 x $5 / 1e6


def test_the_fallback_rate_and_added_seconds_belong_to_the_model_asked_first() -> None:
    def fell_back(added: float) -> CallStats:
        return call(1_000, 100, seconds=2.0, fallback_from="gpu0", fallback_added_seconds=added)

    rows = summarise_run(
        [
            record(MISTRAL, call(seconds=5.0)),
            record(MISTRAL, fell_back(1.5)),
            record(MISTRAL, call(seconds=5.0)),
            record(MISTRAL, fell_back(4.5)),
            record(MISTRAL, call(seconds=9.0, cached=True)),  # asked no model
        ],
        {"gpu0": ModelRef("openai", "gpt-4o-mini", "cloud-mini")},
    )
    local, cloud = rows
    # mistral was asked 4 chunks live (the cached one asked nobody); 2 fell back: 2/4 = 50 %.
    # Seconds added before the fallback: mean (1.5 + 4.5) / 2 = 3.0; nearest-rank p95 of 2
    # values: rank ceil(1.9) = 2 -> 4.5
    assert (local.asked_chunks, local.fell_back_chunks) == (4, 2)
    assert fallback_rate_text(local) == "2/4 = 50.0 %"
    assert (local.fallback_added_mean_seconds, local.fallback_added_p95_seconds) == (3.0, 4.5)
    # gpt-4o-mini answered both but was asked first for none: its rate is n/a, not 0 %
    assert (cloud.fallbacks, cloud.asked_chunks) == (2, 0)
    assert fallback_rate_text(cloud) == "n/a" and cloud.fallback_added_mean_seconds is None


def test_a_run_without_fallbacks_measures_a_zero_rate_and_no_added_seconds() -> None:
    (row,) = summarise_run([record(GPT4O, call(seconds=1.0)) for _ in range(40)])
    # 40 asked, 0 fell back: a measured 0/40, but no seconds were added to measure
    assert fallback_rate_text(row) == "0/40 = 0.0 %"
    assert (row.fallback_added_mean_seconds, row.fallback_added_p95_seconds) == (None, None)


def test_a_model_whose_every_chunk_fell_back_keeps_its_row() -> None:
    stats = call(10, 1, seconds=1.0, fallback_from="gpu0", fallback_added_seconds=30.0)
    local, cloud = summarise_run(
        [record(MISTRAL, stats), record(MISTRAL, stats.model_copy())],
        {"gpu0": ModelRef("openai", "gpt-4o-mini")},
    )
    # mistral answered nothing itself (0 chunks) but was asked 2: 2/2 = 100 %, 30 s added each
    assert (local.model, local.chunks, local.success_rate) == ("mistral:7b-instruct", 0, 0.0)
    assert fallback_rate_text(local) == "2/2 = 100.0 %"
    assert local.fallback_added_mean_seconds == 30.0
    assert (cloud.chunks, cloud.fallbacks) == (2, 2)


def test_runs_combine_fallback_seconds_weighted_by_the_chunks_that_fell_back() -> None:
    def fell_back(added: float) -> CallStats:
        return call(seconds=1.0, fallback_from="gpu0", fallback_added_seconds=added)

    first = summarise_run([record(MISTRAL, fell_back(s)) for s in (1.0, 2.0, 3.0)]
                          + [record(MISTRAL, call())])  # fmt: skip
    second = summarise_run([record(MISTRAL, fell_back(6.0))] + [record(MISTRAL, call())] * 5)
    mistral = next(r for r in combine([*first, *second]) if r.model == "mistral:7b-instruct")
    # asked 4 + 6 = 10, fell back 3 + 1 = 4: 4/10 = 40.0 %; mean (2.0 x 3 + 6.0 x 1) / 4 = 3.0;
    # p95 max(3.0, 6.0) = 6.0 (the runs' p95s, an upper bound of the pooled one)
    assert fallback_rate_text(mistral) == "4/10 = 40.0 %"
    assert (mistral.fallback_added_mean_seconds, mistral.fallback_added_p95_seconds) == (3.0, 6.0)


def test_an_unavailable_chunks_wait_is_not_a_model_calls_latency_or_gpu_time() -> None:
    (row,) = summarise_run([
        record(MISTRAL, call(seconds=2.0)),
        record(MISTRAL, call(seconds=300.0), ExtractionStatus.UNAVAILABLE),  # waited for a down server
    ])  # fmt: skip
    # one timed call, 2 s; the 300 s wait is neither latency nor GPU hours: 2 / 3600
    assert (row.model_calls, row.latency_mean_seconds, row.latency_p95_seconds) == (1, 2.0, 2.0)
    assert row.gpu_hours == pytest.approx(2 / 3600)
    # both chunks asked mistral, and it answered one: success 1/2
    assert (row.asked_chunks, row.success_rate) == (2, 0.5)
