"""The extraction analytics table: one row per provider/model per run (made from the run's
records by kg_pipeline/extraction/run_analytics.py, which states the cost, latency and fallback
rules), stored, queried, combined over runs and priced against a baseline model; the figures behind
`kg admin extraction analytics` and the `extraction_analytics` asset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from kg_pipeline.contract.pricing import PriceFileError, PriceTable, price_table, prices_file
from kg_pipeline.settings import BASELINE_MODEL
from kg_pipeline.store.database import extraction_analytics

DEFAULT_BASELINE_MODEL = BASELINE_MODEL.default


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
