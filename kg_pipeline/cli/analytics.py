"""`kg admin extraction analytics`: what extraction cost per provider/model over a window, and
what it saved against running everything on the cloud baseline model.

Reads the ``extraction_analytics`` table that every extraction run fills (``KG_DATABASE_URL``,
else the SQLite file in the state folder). Costs print to the cent; ``--json`` gives them to the
micro-dollar, as stored.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
import sqlalchemy as sa

from kg_pipeline.cli.common import fail
from kg_pipeline.contract.pricing import PriceFileError
from kg_pipeline.settings import BASELINE_MODEL
from kg_pipeline.store.analytics import (
    DEFAULT_BASELINE_MODEL,
    AnalyticsRow,
    Savings,
    combine,
    dollars,
    fallback_rate_text,
    query,
    savings,
    total,
)
from kg_pipeline.store.database import create_engine, database_url

DEFAULT_DAYS = 30


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def _name(row: AnalyticsRow) -> str:
    return "total" if row.provider == "all" else f"{row.provider}/{row.model}"


def _cells(row: AnalyticsRow) -> list[str]:
    return [
        _name(row),
        str(row.chunks),
        f"{row.input_tokens:,}",
        f"{row.output_tokens:,}",
        f"{row.cost_usd:.2f}",
        _seconds(row.latency_mean_seconds),
        _seconds(row.latency_p95_seconds),
        f"{row.success_rate:.1%}" if row.chunks else "n/a",
        str(row.fallbacks),
    ]


def _fallback_cells(row: AnalyticsRow) -> list[str]:
    return [
        _name(row),
        fallback_rate_text(row),
        _seconds(row.fallback_added_mean_seconds),
        _seconds(row.fallback_added_p95_seconds),
        str(row.fallbacks),
    ]


HEADERS = ["provider/model", "chunks", "input tokens", "output tokens", "cost USD", "avg s",
           "p95 s", "success", "fallbacks"]  # fmt: skip
# Per model asked first: the share of its live chunks its endpoint's fallback answered, and the
# seconds the failed attempts added before it; then the chunks it answered as someone's fallback.
FALLBACK_HEADERS = ["provider/model", "fell back", "added avg s", "added p95 s",
                    "answered as fallback"]  # fmt: skip


def print_table(headers: list[str], cells: list[list[str]]) -> None:
    """Columns aligned, the first to the left; the last line (the total) in bold."""
    lines = [headers, *cells]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]

    def render(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    click.secho(render(headers), bold=True)
    for line in lines[1:-1]:
        click.echo(render(line))
    click.secho(render(lines[-1]), bold=True)


def savings_line(saved: Savings) -> str:
    return (
        f"savings against {saved.baseline_model}: {dollars(saved.usd)} (the same tokens on "
        f"{saved.baseline_model}: {dollars(saved.baseline_cost_usd)}; actual: "
        f"{dollars(saved.actual_cost_usd)})"
    )


def as_json(since: dt.datetime, rows: list[AnalyticsRow], saved: Savings) -> dict[str, Any]:
    def row(r: AnalyticsRow) -> dict[str, Any]:
        data = r.as_json()
        for per_run in ("recorded_at", "run_id", "source"):
            data.pop(per_run)
        data["cost_usd"] = round(r.cost_usd, 6)
        return data

    return {
        "since": since.isoformat(),
        "models": [row(r) for r in rows],
        "total": row(total(rows)),
        "savings": {
            "baseline_model": saved.baseline_model,
            "baseline_cost_usd": round(saved.baseline_cost_usd, 6),
            "actual_cost_usd": round(saved.actual_cost_usd, 6),
            "savings_usd": round(saved.usd, 6),
        },
    }


@click.command("analytics")
@click.option(
    "--last-30-days", "last_30_days", is_flag=True, help="The last 30 days (the default window)."
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="From this date on (YYYY-MM-DD, midnight UTC) instead.",
)
@click.option(
    "--baseline-model",
    default=BASELINE_MODEL.get,
    show_default=f"{BASELINE_MODEL.name}, else {DEFAULT_BASELINE_MODEL}",
    help="Cloud model to measure savings against; it must have a price in the price file.",
)
@click.option("--json", "json_output", is_flag=True, help="Print JSON (costs to $0.000001).")
def analytics_command(
    last_30_days: bool, since: dt.datetime | None, baseline_model: str, json_output: bool
) -> None:
    """Chunks, tokens, cost, latency, success rate and fallbacks per provider/model, and the
    savings against running every chunk on the cloud baseline model; then each model's fallback
    rate and the seconds its failed attempts added before the fallback answered."""
    if last_30_days and since is not None:
        fail("give --last-30-days or --since, not both")
    start = (
        since.replace(tzinfo=dt.UTC)
        if since is not None
        else dt.datetime.now(dt.UTC) - dt.timedelta(days=DEFAULT_DAYS)
    )
    url = sa.make_url(database_url()).render_as_string(hide_password=True)
    try:
        rows = combine(query(create_engine(), start))
    except Exception as exc:  # a database that cannot be reached: say which, and stop
        fail(f"cannot read extraction analytics from {url}: {exc}")
    try:
        saved = savings(rows, baseline_model)
    except PriceFileError as exc:
        fail(str(exc))
    if json_output:
        click.echo(json.dumps(as_json(start, rows, saved), indent=2))
        return
    if not rows:
        click.echo(
            f"no extraction runs recorded since {start:%Y-%m-%d} in {url}; every extraction "
            "run records its figures when it finishes"
        )
        return
    click.echo(f"extraction since {start:%Y-%m-%d %H:%M} UTC")
    whole = [*rows, total(rows)]
    print_table(HEADERS, [_cells(r) for r in whole])
    click.secho(savings_line(saved), fg="green" if saved.usd >= 0 else "yellow")
    click.echo("")
    click.echo("fallbacks, per model asked first (n/a: no chunk asked it first)")
    print_table(FALLBACK_HEADERS, [_fallback_cells(r) for r in whole])
