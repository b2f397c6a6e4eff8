"""A sweep result (sweep.run_sweep) as markdown tables, for the performance report's metadata.

Unmeasured figures show as "n/a" with no number, so a server that reports no token counts never
reads as one that produced none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(percentiles: dict[str, float], point: str) -> str:
    return _fmt(percentiles.get(point), 3)


def _level_name(level: dict[str, Any]) -> str:
    if level.get("profile") == "poisson":
        return f"poisson {level['rate']:g} req/s"
    return f"concurrent {level['concurrency']}"


def render_levels(levels: Sequence[dict[str, Any]]) -> str:
    """One row per level: the figures a capacity decision needs, latency in seconds."""
    lines = [
        "| level | concurrency | completed | chunks/min | output tok/s | TTFT p50 | ITL p50 "
        "| ITL p99 | E2EL p50 | E2EL p90 | E2EL p99 | error rate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        # In Poisson mode the concurrency column is measured: the most requests in flight.
        lines.append(
            f"| {_level_name(lv)} | {lv['concurrency']} | {lv['completed']}/{lv['requests']} | "
            f"{_fmt(lv['chunks_per_minute'])} | {_fmt(lv['output_throughput'], 1)} | "
            f"{_pct(lv['ttft_s'], 'p50')} | {_pct(lv['itl_s'], 'p50')} | "
            f"{_pct(lv['itl_s'], 'p99')} | {_pct(lv['e2el_s'], 'p50')} | "
            f"{_pct(lv['e2el_s'], 'p90')} | {_pct(lv['e2el_s'], 'p99')} | "
            f"{lv['error_rate']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def _mean_max(figure: dict[str, float] | str) -> str:
    if isinstance(figure, str):
        return figure
    return f"{figure['mean']:.1f} / {figure['max']:.1f}"


def render_resources(levels: Sequence[dict[str, Any]]) -> str:
    """What the server used at each level (mean / max over the samples), or why a figure is
    missing; GPU figures cover the whole GPU."""
    lines = [
        "| level | RSS MiB | CPU % | GPU util % | VRAM used MiB | samples |",
        "|---|---|---|---|---|---|",
    ]
    for lv in levels:
        res = lv.get("resources", "not available: not sampled")
        if isinstance(res, str):
            lines.append(f"| {_level_name(lv)} | {res} | | | | 0 |")
            continue
        lines.append(
            f"| {_level_name(lv)} | {_mean_max(res['rss_mib'])} | {_mean_max(res['cpu_percent'])} "
            f"| {_mean_max(res['gpu_util_percent'])} | {_mean_max(res['vram_used_mib'])} "
            f"| {res['readings']} |"
        )
    return "\n".join(lines) + "\n"
