"""The Poisson arrival schedule, the level summary's profile keys and the tables rendered from a
sweep result; expected values worked out by hand."""

import statistics
from itertools import pairwise

import pytest

from kg_pipeline.perf.load import poisson_arrivals
from kg_pipeline.perf.report import render_levels, render_resources
from kg_pipeline.perf.stats import LevelResult, RequestTiming, knee


def test_a_seed_gives_the_same_schedule_and_another_seed_a_different_one() -> None:
    first = poisson_arrivals(2.0, 50, seed=7)
    assert first == poisson_arrivals(2.0, 50, seed=7)
    assert first != poisson_arrivals(2.0, 50, seed=8)
    # The first request opens the window; arrivals never go back in time.
    assert first[0] == 0.0
    assert all(b >= a for a, b in pairwise(first))


def test_gaps_are_exponential_with_mean_one_over_the_rate() -> None:
    arrivals = poisson_arrivals(2.0, 20_001, seed=0)
    gaps = [b - a for a, b in pairwise(arrivals)]
    # 20 000 exponential gaps at 2 requests/s: mean 1/2 = 0.5 s with a standard error of
    # 0.5 / sqrt(20 000) = 0.0035 s, so 3 % (0.015 s, over 4 standard errors) is a safe bound.
    assert statistics.fmean(gaps) == pytest.approx(0.5, rel=0.03)
    # An exponential's standard deviation equals its mean (evenly spaced arrivals would give 0);
    # the sample deviation's relative error is about sqrt(8 / n) / 2 = 1 %, so 5 % is safe.
    assert statistics.stdev(gaps) == pytest.approx(0.5, rel=0.05)


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        poisson_arrivals(0.0, 3)


def test_a_level_says_which_profile_measured_it() -> None:
    timing = RequestTiming(ttft=0.1, e2el=1.0, token_times=(0.1, 0.5), output_tokens=2)
    closed = LevelResult(concurrency=2, duration_s=1.0, requests=(timing,)).summary()
    poisson = LevelResult(concurrency=3, duration_s=1.0, requests=(timing,), rate=1.5).summary()
    assert (closed["profile"], closed["rate"]) == ("concurrent", None)
    assert (poisson["profile"], poisson["rate"], poisson["concurrency"]) == ("poisson", 1.5, 3)


def test_the_knee_of_a_rate_sweep_is_a_rate() -> None:
    # 0.5 -> 1: +90 %; 1 -> 2: +3 % (the server is saturated): the knee is 1.0 request/s.
    assert knee([(0.5, 10.0), (1.0, 19.0), (2.0, 19.5)]) == 1.0


def _level(**overrides: object) -> dict[str, object]:
    level: dict[str, object] = {
        "profile": "concurrent",
        "rate": None,
        "concurrency": 2,
        "requests": 4,
        "completed": 3,
        "chunks_per_minute": 18.0,
        "output_throughput": None,
        "ttft_s": {"p50": 0.25},
        "itl_s": {"p50": 0.05, "p99": 0.125},
        "e2el_s": {"p50": 1.5, "p90": 2.0, "p99": 2.5},
        "error_rate": 0.25,
    }
    return level | overrides


def test_level_table_shows_unreported_throughput_as_na_not_zero() -> None:
    table = render_levels([_level(), _level(profile="poisson", rate=0.5, concurrency=3)])
    rows = table.splitlines()[2:]
    assert rows[0] == (
        "| concurrent 2 | 2 | 3/4 | 18.00 | n/a | 0.250 | 0.050 | 0.125 | 1.500 | 2.000 | "
        "2.500 | 25.0% |"
    )
    assert rows[1].startswith("| poisson 0.5 req/s | 3 |")


def test_resource_table_carries_the_reason_a_figure_is_missing() -> None:
    sampled = {
        "readings": 3,
        "rss_mib": {"mean": 100.0, "max": 120.0, "samples": 3},
        "cpu_percent": {"mean": 50.0, "max": 80.0, "samples": 2},
        "gpu_util_percent": "not available: neither nvidia-smi nor rocm-smi is on PATH",
        "vram_used_mib": "not available: neither nvidia-smi nor rocm-smi is on PATH",
    }
    remote = "not available: server is not on this machine"
    rows = render_resources([_level(resources=sampled), _level(resources=remote)]).splitlines()
    assert rows[2].startswith("| concurrent 2 | 100.0 / 120.0 | 50.0 / 80.0 | not available:")
    assert rows[2].endswith("| 3 |")
    assert rows[3] == f"| concurrent 2 | {remote} | | | | 0 |"
