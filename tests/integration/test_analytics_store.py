"""The analytics table on both databases it runs on: SQLite (the default) and PostgreSQL
(production), each real — a file, and a throwaway server of the test session's own."""

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from kg_pipeline.store.analytics import (
    AnalyticsRow,
    combine,
    fallback_rate_text,
    query,
    record_run,
)
from kg_pipeline.store.database import alembic_config, create_engine
from tests.postgres import Postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> sa.Engine:
    if request.param == "sqlite":
        return create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    postgres: Postgres = request.getfixturevalue("postgres")
    return create_engine(postgres.new_database())


def row(**changes: Any) -> AnalyticsRow:
    base = {"provider": "openai", "model": "gpt-4o", "chunks": 3, "valid_chunks": 2,
            "model_calls": 2, "cached_chunks": 1, "fallbacks": 1, "input_tokens": 1_234_567,
            "output_tokens": 5_000_000_000, "cost_usd": 3.0864175, "gpu_hours": 0.25,
            "latency_mean_seconds": 1.5, "latency_p95_seconds": 2.25, "success_rate": 2 / 3}  # fmt: skip
    return AnalyticsRow(**(base | changes))


NOW = dt.datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


def test_a_recorded_row_reads_back_with_every_column_and_its_cost_to_the_micro_dollar(
    engine: sa.Engine,
) -> None:
    record_run(engine, [row()], run_id="run-1", source="extractions:gpu0", recorded_at=NOW)
    (back,) = query(engine, NOW - dt.timedelta(days=1))
    # 1,234,567 input tokens at $2.50/M = $3.0864175, stored half-up to $3.086418
    assert back == row(cost_usd=3.086418, recorded_at=NOW, run_id="run-1",
                       source="extractions:gpu0")  # fmt: skip
    assert back.recorded_at is not None and back.recorded_at.tzinfo is not None
    assert back.output_tokens == 5_000_000_000  # past 32 bits: a BIGINT column


def test_the_window_holds_only_rows_recorded_inside_it_oldest_first(engine: sa.Engine) -> None:
    for days, model in ((40, "old"), (1, "newest"), (10, "recent")):
        record_run(engine, [row(model=model)], "r", "ingest", NOW - dt.timedelta(days=days))
    since = NOW - dt.timedelta(days=30)
    assert [r.model for r in query(engine, since)] == ["recent", "newest"]
    assert [r.model for r in query(engine, since, until=NOW - dt.timedelta(days=5))] == ["recent"]
    # a window given in another zone means the same instant: 30 days ago 14:30 at UTC+2
    plus_two = since.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert [r.model for r in query(engine, plus_two)] == ["recent", "newest"]


def test_a_thousand_small_costs_add_up_to_the_cent(engine: sa.Engine) -> None:
    rows = [row(cost_usd=0.0027, model="gpt-4o-mini") for _ in range(1000)]
    record_run(engine, rows, "many", "ingest", NOW)
    (summed,) = combine(query(engine, NOW))
    # 1000 x $0.0027 = $2.70
    assert summed.cost_usd == pytest.approx(2.70, abs=1e-9)
    assert f"{summed.cost_usd:.2f}" == "2.70" and summed.chunks == 3000


def test_a_run_without_rows_stores_nothing(engine: sa.Engine) -> None:
    record_run(engine, [], "empty", "ingest", NOW)
    assert query(engine, NOW - dt.timedelta(days=365)) == []


def test_fallback_figures_read_back_and_combine(engine: sa.Engine) -> None:
    record_run(engine, [row(asked_chunks=40, fell_back_chunks=2, fallback_added_mean_seconds=1.5,
                            fallback_added_p95_seconds=2.0)], "r1", "ingest", NOW)  # fmt: skip
    record_run(engine, [row(asked_chunks=10, fell_back_chunks=3, fallback_added_mean_seconds=4.0,
                            fallback_added_p95_seconds=5.0)], "r2", "ingest", NOW)  # fmt: skip
    (summed,) = combine(query(engine, NOW))
    # asked 40 + 10 = 50, fell back 2 + 3 = 5: 5/50 = 10.0 %; mean (1.5 x 2 + 4.0 x 3) / 5 = 3.0;
    # p95 max(2.0, 5.0) = 5.0
    assert fallback_rate_text(summed) == "5/50 = 10.0 %"
    assert summed.fallback_added_mean_seconds == pytest.approx(3.0)
    assert summed.fallback_added_p95_seconds == 5.0


def test_rows_recorded_before_fallbacks_were_counted_read_as_not_measured(
    engine: sa.Engine,
) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    values = dataclasses.asdict(row()) | {"recorded_at": NOW, "run_id": "old", "source": "ingest"}
    for name in ("asked_chunks", "fell_back_chunks", "fallback_added_mean_seconds",
                 "fallback_added_p95_seconds"):  # fmt: skip
        values.pop(name)
    with engine.begin() as connection:
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        connection.execute(sa.text(f"INSERT INTO extraction_analytics ({columns}) VALUES ({marks})"),
                           values)  # fmt: skip
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    (old,) = query(engine, NOW)
    # no chunk counted as asked: the rate is n/a, not 0 %, and no seconds were measured
    assert (old.asked_chunks, old.fell_back_chunks, old.fallback_rate) == (0, 0, None)
    assert fallback_rate_text(old) == "n/a" and old.fallback_added_mean_seconds is None
