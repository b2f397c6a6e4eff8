"""Cost, latency and success per provider/model, one row per run: the figures behind
`kg admin extraction analytics` and the `extraction_analytics` asset.

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

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from kg_pipeline.contract.pricing import (
    PriceFileError,
    PriceTable,
    default_gpu_cost_per_hour,
    price_table,
    prices_file,
)
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.settings import BASELINE_MODEL
from kg_pipeline.store.database import extraction_analytics

DEFAULT_BASELINE_MODEL = BASELINE_MODEL.default
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
class AnalyticsRow:
    """One provider/model in one run (``recorded_at``, ``run_id``, ``source`` set once
    stored), or the same figures combined over many runs."""

    provider: str
    model: str
    chunks: int
    valid_chunks: int
    model_calls: int
    cached_chunks: int
    fallbacks: int  # chunks this model answered for an endpoint that failed
    input_tokens: int
    output_tokens: int
    cost_usd: float
    gpu_hours: float  # call hours of models without a token price
    latency_mean_seconds: float | None
    latency_p95_seconds: float | None
    success_rate: float
    asked_chunks: int = 0  # live chunks whose endpoint asked this model first
    fell_back_chunks: int = 0  # of those, answered by the endpoint's fallback instead
    fallback_added_mean_seconds: float | None = None  # None: no chunk fell back
    fallback_added_p95_seconds: float | None = None
    recorded_at: dt.datetime | None = None
    run_id: str | None = None
    source: str | None = None

    @property
    def fallback_rate(self) -> float | None:
        """Share of the chunks that asked this model first which its fallback answered; None
        when none asked it (a model used only as a fallback, or rows older than the count)."""
        return self.fell_back_chunks / self.asked_chunks if self.asked_chunks else None

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["recorded_at"] = self.recorded_at.isoformat() if self.recorded_at else None
        data["fallback_rate"] = self.fallback_rate
        return data


def fallback_rate_text(row: AnalyticsRow) -> str:
    """The rate with its parts, "2/40 = 5.0 %"; "n/a" when no chunk asked the model first."""
    rate = row.fallback_rate
    if rate is None:
        return "n/a"
    return f"{row.fell_back_chunks}/{row.asked_chunks} = {100 * rate:.1f} %"


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


def _merge(provider: str, model: str, rows: Sequence[AnalyticsRow]) -> AnalyticsRow:
    chunks = sum(r.chunks for r in rows)
    valid = sum(r.valid_chunks for r in rows)
    timed = [r for r in rows if r.latency_mean_seconds is not None and r.model_calls]
    calls = sum(r.model_calls for r in timed)
    p95s = [r.latency_p95_seconds for r in rows if r.latency_p95_seconds is not None]
    fell_back = sum(r.fell_back_chunks for r in rows)
    added_p95s = [
        r.fallback_added_p95_seconds for r in rows if r.fallback_added_p95_seconds is not None
    ]
    return AnalyticsRow(
        provider=provider,
        model=model,
        chunks=chunks,
        valid_chunks=valid,
        model_calls=sum(r.model_calls for r in rows),
        cached_chunks=sum(r.cached_chunks for r in rows),
        fallbacks=sum(r.fallbacks for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        cost_usd=sum(r.cost_usd for r in rows),
        gpu_hours=sum(r.gpu_hours for r in rows),
        latency_mean_seconds=(
            sum((r.latency_mean_seconds or 0.0) * r.model_calls for r in timed) / calls
            if calls
            else None
        ),
        # Per-call latencies are not stored, and a percentile of percentiles is not one. The
        # highest run p95 is an upper bound of the pooled p95: at most 5% of each run's calls
        # lie above it, so at most 5% of all of them do.
        latency_p95_seconds=max(p95s) if p95s else None,
        success_rate=valid / chunks if chunks else 0.0,
        asked_chunks=sum(r.asked_chunks for r in rows),
        fell_back_chunks=fell_back,
        # Weighted by the chunks that fell back; the p95 is the highest run p95, an upper bound
        # of the pooled one for the same reason as the latency's.
        fallback_added_mean_seconds=(
            sum((r.fallback_added_mean_seconds or 0.0) * r.fell_back_chunks for r in rows)
            / fell_back
            if fell_back
            else None
        ),
        fallback_added_p95_seconds=max(added_p95s) if added_p95s else None,
    )


def combine(rows: Iterable[AnalyticsRow]) -> list[AnalyticsRow]:
    """Many runs' rows as one row per provider/model, sorted by provider and model."""
    groups: dict[tuple[str, str], list[AnalyticsRow]] = {}
    for row in rows:
        groups.setdefault((row.provider, row.model), []).append(row)
    return [_merge(p, m, group) for (p, m), group in sorted(groups.items())]


def total(rows: Sequence[AnalyticsRow]) -> AnalyticsRow:
    """Every row combined into one (provider and model "all")."""
    return _merge("all", "all", rows)


@dataclass(frozen=True)
class Savings:
    baseline_model: str
    baseline_cost_usd: float  # the same input and output tokens at the baseline's prices
    actual_cost_usd: float

    @property
    def usd(self) -> float:
        return self.baseline_cost_usd - self.actual_cost_usd


def savings(
    rows: Sequence[AnalyticsRow],
    baseline_model: str = DEFAULT_BASELINE_MODEL,
    prices: PriceTable | None = None,
) -> Savings:
    """What running everything on ``baseline_model`` would have cost, against what it did.

    The token counts are the models' own; another model's tokenizer would count the same text
    somewhat differently, and servers that report no counts add nothing to either side.
    """
    prices = prices or price_table()
    price = prices.price(baseline_model)
    if price is None:
        priced = ", ".join(sorted(prices.usd_per_million_tokens)) or "none"
        raise PriceFileError(
            f"the baseline model {baseline_model!r} has no price in {prices_file()} (priced: "
            f"{priced}); add it under usd_per_million_tokens or choose a priced model"
        )
    input_tokens = sum(r.input_tokens for r in rows)
    output_tokens = sum(r.output_tokens for r in rows)
    baseline = (input_tokens * price.input + output_tokens * price.output) / 1e6
    return Savings(baseline_model, baseline, sum(r.cost_usd for r in rows))


def dollars(value: float) -> str:
    """To the cent, sign first: -$2.69 rather than $-2.69."""
    cents = round(value, 2)
    return f"-${-cents:.2f}" if cents < 0 else f"${cents:.2f}"


def _micro_dollars(cost: float) -> float:
    """Rounded half-up to $0.000001 from the shortest decimal form (3.0864175 -> 3.086418)."""
    return float(Decimal(repr(cost)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


def record_run(
    engine: sa.Engine,
    rows: Sequence[AnalyticsRow],
    run_id: str,
    source: str,
    recorded_at: dt.datetime | None = None,
) -> None:
    """Store one run's rows in one transaction (all or none)."""
    if not rows:
        return
    stamp = (recorded_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    values = []
    for row in rows:
        data = dataclasses.asdict(row) | {"recorded_at": stamp, "run_id": run_id}
        values.append(data | {"source": source, "cost_usd": _micro_dollars(row.cost_usd)})
    with engine.begin() as connection:
        connection.execute(sa.insert(extraction_analytics), values)


_FIELDS = [f.name for f in dataclasses.fields(AnalyticsRow)]


def query(
    engine: sa.Engine, since: dt.datetime, until: dt.datetime | None = None
) -> list[AnalyticsRow]:
    """Rows recorded at or after ``since`` (and before ``until``), oldest first."""
    table = extraction_analytics
    statement = sa.select(table).where(table.c.recorded_at >= since.astimezone(dt.UTC))
    if until is not None:
        statement = statement.where(table.c.recorded_at < until.astimezone(dt.UTC))
    with engine.connect() as connection:
        found = connection.execute(statement.order_by(table.c.recorded_at, table.c.id)).all()
    rows = []
    for row in found:
        data = {name: row._mapping[name] for name in _FIELDS}
        if data["recorded_at"].tzinfo is None:  # SQLite drops the zone; it was written in UTC
            data["recorded_at"] = data["recorded_at"].replace(tzinfo=dt.UTC)
        rows.append(AnalyticsRow(**data))
    return rows
