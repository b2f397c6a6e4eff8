"""Cost, latency and success per provider/model of one run, from its extraction records: the
rows that the analytics table (kg_pipeline/store/analytics.py) stores, one per model per run.

Cost rules, applied per chunk record:

- A chunk answered from the response cache made no model call: it costs $0 and its tokens are
  not counted (the same chunk would have been cached on the baseline model too).
- A model with a token price in the price file (``kg_pipeline/contract/prices.json`` or
  ``KG_PRICES_FILE``) is billed input tokens x input price + output tokens x output price, per
  million. Failed calls that report token counts are billed too: the provider charges for them.
- Any other model is local: $0, unless an hourly GPU rate is configured (``local_gpu_per_hour``
  in the price file, keyed by endpoint name, model or provider; else ``KG_GPU_COST_PER_HOUR``).
  Then the cost is call seconds / 3600 x rate. Calls in flight together share one GPU, so the sum
  of their seconds counts shared time more than once: an upper bound, exact at one call at a time.
- A fallback answer is billed to the model that gave it (the fallback), not to the endpoint that
  failed. The seconds the failed attempt took first are not billed to either.

Latency is the wall time of each model call (cached chunks, and unavailable ones that no model
answered, have none). p95 is nearest-rank: the ⌈0.95·n⌉-th smallest latency, always an observed
value.

Fallbacks are counted twice over, from two sides. On the row of the model that answered instead
(``fallbacks``): what it did for others, and was billed. On the row of the model asked first
(``asked_chunks``, ``fell_back_chunks``): its fallback rate, "2/40 = 5.0 %" of the live chunks
that asked it (cached answers asked no model), with the seconds each failed attempt added before
the fallback was asked (mean and p95). A chunk whose fallback failed too counts as asked only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kg_pipeline.contract.pricing import PriceTable, default_gpu_cost_per_hour, price_table
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.store.analytics import AnalyticsRow

# Stands in for the provider of a fallback answer whose model could not be looked up.
UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class ModelRef:
    """Who answered a chunk; ``endpoint`` (the registered name) lets one GPU be priced apart
    from another serving the same model."""

    provider: str
    model: str
    endpoint: str = ""


@dataclass(frozen=True)
class CostRules:
    prices: PriceTable
    default_gpu_per_hour: float | None = None

    @classmethod
    def load(cls) -> CostRules:
        """The price file and ``KG_GPU_COST_PER_HOUR`` as they are now."""
        return cls(price_table(), default_gpu_cost_per_hour())

    def gpu_rate(self, ref: ModelRef) -> float | None:
        for key in (ref.endpoint, ref.model, ref.provider):
            if key and key in self.prices.local_gpu_per_hour:
                return self.prices.local_gpu_per_hour[key]
        return self.default_gpu_per_hour


def nearest_rank(values: Sequence[float], percent: int = 95) -> float | None:
    """The ⌈percent/100 · n⌉-th smallest value (integer arithmetic: 0.95 · 20 must be 19)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)
    return ordered[max(rank, 1) - 1]


@dataclass
class _Tally:
    chunks: int = 0
    valid: int = 0
    cached: int = 0
    fallbacks: int = 0
    input: int = 0
    output: int = 0
    latencies: list[float] = field(default_factory=list)
    gpu_seconds: float = 0.0
    extra_cost: float = 0.0  # GPU time, or what an unresolved fallback recorded it cost
    asked: int = 0
    added: list[float] = field(default_factory=list)  # one per chunk that fell back

    def row(self, provider: str, model: str, prices: PriceTable) -> AnalyticsRow:
        price = prices.price(model) if provider != UNRESOLVED else None
        tokens = (self.input * price.input + self.output * price.output) / 1e6 if price else 0.0
        latencies = self.latencies
        return AnalyticsRow(
            provider=provider,
            model=model,
            chunks=self.chunks,
            valid_chunks=self.valid,
            model_calls=len(latencies),
            cached_chunks=self.cached,
            fallbacks=self.fallbacks,
            input_tokens=self.input,
            output_tokens=self.output,
            cost_usd=tokens + self.extra_cost,
            gpu_hours=self.gpu_seconds / 3600,
            latency_mean_seconds=sum(latencies) / len(latencies) if latencies else None,
            latency_p95_seconds=nearest_rank(latencies),
            # A model whose every chunk fell back answered none itself.
            success_rate=self.valid / self.chunks if self.chunks else 0.0,
            asked_chunks=self.asked,
            fell_back_chunks=len(self.added),
            fallback_added_mean_seconds=sum(self.added) / len(self.added) if self.added else None,
            fallback_added_p95_seconds=nearest_rank(self.added),
        )


def summarise_run(
    records: Sequence[ChunkExtraction],
    fallback_models: Mapping[str, ModelRef] | None = None,
    rules: CostRules | None = None,
) -> list[AnalyticsRow]:
    """One row per provider/model that answered chunks of the run, in order of first use (a
    run follows a model switch from the next chunk on, so it can hold several).

    ``fallback_models`` maps an endpoint name to the model its fallback endpoint serves: the
    call statistics name the endpoint that failed, not the model that answered instead. A
    fallback it does not map is reported as ``unresolved`` and billed what the call recorded.
    """
    rules = rules or CostRules.load()
    fallback_models = fallback_models or {}
    tallies: dict[tuple[str, str], _Tally] = {}
    for record in records:
        stats = record.stats
        ref = ModelRef(record.provider, record.model, record.endpoint)
        # The model asked first: the record names it even when its fallback answered.
        first = tallies.setdefault((ref.provider, ref.model), _Tally())
        live = stats is None or not stats.cached
        first.asked += live
        if stats is not None and stats.fallback_from is not None:
            if live:
                first.added.append(stats.fallback_added_seconds)
            failed = stats.fallback_from
            ref = fallback_models.get(failed) or ModelRef(UNRESOLVED, f"fallback of {failed}")
        tally = tallies.setdefault((ref.provider, ref.model), _Tally())
        tally.chunks += 1
        tally.valid += record.status is ExtractionStatus.VALID
        if stats is None:
            continue
        if stats.cached:
            tally.cached += 1
            continue
        if record.status is ExtractionStatus.UNAVAILABLE:
            # No model answered: the seconds are the chunk's wait for a server that was down or
            # too slow (retries, backoffs, cooldowns), not a call's latency or billable GPU time.
            continue
        tally.fallbacks += stats.fallback_from is not None
        tally.input += stats.prompt_tokens or 0
        tally.output += stats.completion_tokens or 0
        tally.latencies.append(stats.wall_seconds)
        if ref.provider == UNRESOLVED:
            tally.extra_cost += stats.fallback_cost_usd or 0.0
        elif rules.prices.price(ref.model) is None:
            tally.gpu_seconds += stats.wall_seconds
            tally.extra_cost += stats.wall_seconds / 3600 * (rules.gpu_rate(ref) or 0.0)
    return [t.row(provider, model, rules.prices) for (provider, model), t in tallies.items()]
