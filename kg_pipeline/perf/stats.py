"""Serving statistics, named as GuideLLM and `vllm bench serve` name them, so numbers compare:
TTFT (time to first token), TPOT (time per output token after the first), ITL (inter-token
latency), E2EL (end-to-end latency), output/total token throughput, request throughput."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TypeVar

import numpy as np

# A level's position on a sweep's x axis: a concurrency (int) or a request rate (float).
Level = TypeVar("Level", bound=float)


@dataclass(frozen=True)
class RequestTiming:
    """One streamed request, in seconds from its own start."""

    ttft: float | None  # None when no token arrived
    e2el: float
    token_times: tuple[float, ...] = ()  # arrival of each streamed content chunk
    prompt_tokens: int | None = None  # from the server's usage counts
    output_tokens: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def tpot(self) -> float | None:
        """(E2EL - TTFT) / (output tokens - 1): the decode pace after the first token."""
        if self.ttft is None or not self.output_tokens or self.output_tokens < 2:
            return None
        return (self.e2el - self.ttft) / (self.output_tokens - 1)

    @property
    def itls(self) -> list[float]:
        return [b - a for a, b in pairwise(self.token_times)]


def percentiles(
    values: Sequence[float], points: Sequence[float] = (50, 90, 99)
) -> dict[str, float]:
    """Linear-interpolation percentiles (numpy's default), keyed p50, p90, p99."""
    if not values:
        return {}
    result = np.percentile(np.asarray(values, dtype=float), list(points))
    return {f"p{int(p)}": float(v) for p, v in zip(points, result, strict=True)}


@dataclass(frozen=True)
class LevelResult:
    """All requests at one concurrency (closed loop) or one request rate (Poisson, open loop)."""

    # Closed loop: the number of workers. Poisson: the most requests seen in flight at once, a
    # measured figure (the rate sets arrivals; how many overlap depends on the server's pace).
    concurrency: int
    duration_s: float  # wall time of the measured window (warm-up excluded)
    requests: Sequence[RequestTiming] = field(default_factory=tuple)
    rate: float | None = None  # target requests/s in Poisson mode; None for the closed loop

    @property
    def profile(self) -> str:
        """GuideLLM's profile names, so that result files from both tools read alike."""
        return "concurrent" if self.rate is None else "poisson"

    @property
    def completed(self) -> list[RequestTiming]:
        return [r for r in self.requests if r.ok]

    @property
    def error_rate(self) -> float:
        return 1 - len(self.completed) / len(self.requests) if self.requests else 0.0

    @property
    def _counted(self) -> bool:
        return all(r.output_tokens is not None for r in self.completed)

    @property
    def output_throughput(self) -> float | None:
        """Output tokens per second, from the server's counts; None when the server did not
        report them (llama-cpp-python sends no usage when streaming) — never a made-up zero."""
        if not self._counted:
            return None
        return sum(r.output_tokens or 0 for r in self.completed) / self.duration_s

    @property
    def total_token_throughput(self) -> float | None:
        if not self._counted or any(r.prompt_tokens is None for r in self.completed):
            return None
        tokens = sum((r.output_tokens or 0) + (r.prompt_tokens or 0) for r in self.completed)
        return tokens / self.duration_s

    @property
    def streamed_chunk_throughput(self) -> float:
        """Streamed content chunks per second, as the client saw them (one token per chunk on
        llama.cpp and vLLM); a stand-in when the server reports no counts."""
        return sum(len(r.token_times) for r in self.completed) / self.duration_s

    @property
    def request_throughput(self) -> float:
        return len(self.completed) / self.duration_s

    def summary(self) -> dict[str, object]:
        done = self.completed
        return {
            "profile": self.profile,
            "rate": self.rate,
            "concurrency": self.concurrency,
            "requests": len(self.requests),
            "completed": len(done),
            "error_rate": self.error_rate,
            "duration_s": self.duration_s,
            "request_throughput": self.request_throughput,
            "chunks_per_minute": self.request_throughput * 60,
            "output_throughput": self.output_throughput,
            "total_token_throughput": self.total_token_throughput,
            "streamed_chunk_throughput": self.streamed_chunk_throughput,
            "ttft_s": percentiles([r.ttft for r in done if r.ttft is not None]),
            "tpot_s": percentiles([t for r in done if (t := r.tpot) is not None]),
            "itl_s": percentiles([i for r in done for i in r.itls]),
            "e2el_s": percentiles([r.e2el for r in done]),
            "errors": sorted({r.error for r in self.requests if r.error})[:5],
        }


def knee(levels: Sequence[tuple[Level, float]], min_gain: float = 0.10) -> Level | None:
    """The concurrency (or request rate) past which throughput stops rising: the last level whose
    step up from the previous one gained at least ``min_gain`` (10 %) of throughput. ``levels``
    are (concurrency or rate, throughput) in rising order."""
    if not levels:
        return None
    best = levels[0][0]
    for (_, before), (level, after) in pairwise(levels):
        if before > 0 and (after - before) / before >= min_gain:
            best = level
        else:
            break
    return best


def efficiency(pipeline_chunks_per_minute: float, raw_chunks_per_minute: float) -> float:
    """The pipeline's achieved rate as a share of the raw server's, at the same concurrency."""
    return pipeline_chunks_per_minute / raw_chunks_per_minute if raw_chunks_per_minute else 0.0
