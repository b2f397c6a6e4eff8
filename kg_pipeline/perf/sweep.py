"""A sweep of one endpoint, written as JSON + a PNG: closed-loop concurrency levels, Poisson
request-rate levels, or both, each with what the server process used meanwhile."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import load_corpus
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.perf.load import run_level, run_rate, streaming_request, warm_up
from kg_pipeline.perf.processes import server_pid
from kg_pipeline.perf.server_usage import ResourceSampler
from kg_pipeline.perf.stats import knee
from kg_pipeline.providers import EndpointSettings
from kg_pipeline.serving.hardware import hardware_profile

log = logging.getLogger(__name__)
Batch = list[tuple[str, dict[str, Any]]]


def _measure(
    settings: EndpointSettings,
    batch: Batch,
    level: float,
    poisson: bool,
    seed: int,
    target: int | str,
    sample_interval: float,
) -> dict[str, Any]:
    """One level: warm-up first, then the measured requests with the server sampled alongside
    (the warm-up's model loading is not the steady state either figure should show)."""
    asyncio.run(warm_up(settings, batch[:1]))
    sampler = ResourceSampler(target, sample_interval).start() if isinstance(target, int) else None
    try:
        if poisson:
            result = asyncio.run(run_rate(settings, batch[1:], level, warmup=0, seed=seed))
        else:
            result = asyncio.run(run_level(settings, batch[1:], int(level), warmup=0))
    finally:
        resources = sampler.stop() if sampler else target
    summary = result.summary() | {"resources": resources}
    log.info("%s %s: %s", result.profile, level, json.dumps(summary))
    return summary


def run_sweep(
    settings: EndpointSettings,
    corpus: Path,
    requests: int,
    concurrencies: Sequence[int] = (),
    rates: Sequence[float] = (),
    seed: int = 0,
    pid: int | None = None,
    sample_interval: float = 1.0,
) -> dict[str, Any]:
    """``requests`` measured requests per level (plus one warm-up), built from the corpus's
    chunks, shortest first: one level per concurrency (closed loop), then one per request rate
    (Poisson arrivals from ``seed``). The server process is ``pid``, else the one listening on
    the endpoint's port when the endpoint is on this machine."""
    docs, _ = load_corpus(corpus)
    chunks = sorted(
        (c for d in docs for c in chunk_document(d.document_id, d.text)), key=lambda c: len(c.text)
    )
    schema = extraction_json_schema()
    texts = [chunks[i % len(chunks)].text for i in range(requests + 1)]  # +1 warm-up
    batch = [streaming_request(settings, build_messages(t), schema) for t in texts]
    target = pid if pid is not None else server_pid(settings.base_url)
    if isinstance(target, str):
        log.info("server resources %s", target)
    levels = [
        _measure(settings, batch, c, False, seed, target, sample_interval)
        for c in sorted(concurrencies)
    ] + [_measure(settings, batch, r, True, seed, target, sample_interval) for r in sorted(rates)]
    return {
        "endpoint": settings.name,
        "provider": settings.provider,
        "model": settings.model,
        "requests_per_level": requests,
        "seed": seed,
        "levels": levels,
        "knee_concurrency": _knee(levels, "concurrent", "concurrency"),
        "knee_rate": _knee(levels, "poisson", "rate"),
        "hardware": hardware_profile(),
    }


def _knee(levels: list[dict[str, Any]], profile: str, key: str) -> float | None:
    return knee(
        [
            (lv[key], lv["output_throughput"] or lv["streamed_chunk_throughput"])
            for lv in levels
            if lv["profile"] == profile
        ]
    )


def sweep(
    settings: EndpointSettings,
    concurrencies: list[int],
    requests: int,
    corpus: Path,
    out_dir: Path,
    *,
    rates: Sequence[float] = (),
    seed: int = 0,
    pid: int | None = None,
) -> Path:
    """run_sweep written to ``out_dir``/serving-<endpoint>.json (``-poisson`` when only rates
    were measured) and a PNG beside it; returns the JSON's path."""
    result = run_sweep(settings, corpus, requests, concurrencies, rates, seed, pid)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", settings.name)
    suffix = "-poisson" if rates and not concurrencies else ""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"serving-{name}{suffix}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    plot_sweep(result, path.with_suffix(".png"))
    return path


def plot_sweep(result: dict[str, Any], path: Path) -> None:
    """Throughput and latency against concurrency, and against request rate when Poisson levels
    were measured: one row per profile."""
    rows = [
        (
            profile,
            key,
            [lv for lv in result["levels"] if lv.get("profile", "concurrent") == profile],
        )
        for profile, key in (("concurrent", "concurrency"), ("poisson", "rate"))
    ]
    rows = [row for row in rows if row[2]] or [("concurrent", "concurrency", [])]
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 4 * len(rows)), squeeze=False)
    for (profile, key, levels), (left, right) in zip(rows, axes, strict=True):
        x = [lv[key] for lv in levels]
        xlabel = "concurrency" if profile == "concurrent" else "target requests/s (Poisson)"
        left.plot(
            x,
            [lv["output_throughput"] or lv["streamed_chunk_throughput"] for lv in levels],
            marker="o",
        )
        left.set(
            xlabel=xlabel,
            ylabel="output tokens/s (streamed chunks/s if not reported)",
            title="Throughput",
        )
        for metric, label in (("e2el_s", "E2EL"), ("ttft_s", "TTFT")):
            right.plot(
                x,
                [lv[metric].get("p50", float("nan")) for lv in levels],
                marker="o",
                label=f"{label} p50",
            )
        right.set(xlabel=xlabel, ylabel="seconds", title="Latency")
        right.legend()
    fig.suptitle(f"{result['model']} ({result['provider']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
