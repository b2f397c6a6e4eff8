"""A closed-loop concurrency sweep of one endpoint, written as JSON + a PNG."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt

from kg_pipeline.chunking import chunk_document
from kg_pipeline.documents import load_corpus
from kg_pipeline.perf.hardware import hardware_profile
from kg_pipeline.perf.load import run_level, streaming_request
from kg_pipeline.perf.stats import LevelResult, knee
from kg_pipeline.prompts import build_messages
from kg_pipeline.providers import EndpointSettings
from kg_pipeline.schema import extraction_json_schema

log = logging.getLogger(__name__)


def sweep(
    settings: EndpointSettings, concurrencies: list[int], requests: int, corpus: Path, out_dir: Path
) -> Path:
    """``requests`` measured requests per concurrency level (plus one warm-up), built from the
    corpus's chunks, shortest first; returns the result file's path."""
    docs, _ = load_corpus(corpus)
    chunks = sorted(
        (c for d in docs for c in chunk_document(d.document_id, d.text)), key=lambda c: len(c.text)
    )
    schema = extraction_json_schema()
    results: list[LevelResult] = []
    for concurrency in concurrencies:
        texts = [chunks[i % len(chunks)].text for i in range(requests + 1)]  # +1 warm-up
        batch = [streaming_request(settings, build_messages(t), schema) for t in texts]
        results.append(asyncio.run(run_level(settings, batch, concurrency, warmup=1)))
        log.info("concurrency %s: %s", concurrency, json.dumps(results[-1].summary()))
    levels = [r.summary() for r in results]
    result: dict[str, Any] = {
        "endpoint": settings.name,
        "provider": settings.provider,
        "model": settings.model,
        "requests_per_level": requests,
        "levels": levels,
        # The server's token counts when it reports them, else the streamed chunks the client saw.
        "knee_concurrency": knee(
            [(r.concurrency, r.output_throughput or r.streamed_chunk_throughput) for r in results]
        ),
        "hardware": hardware_profile(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", settings.name)
    path = out_dir / f"serving-{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    plot_sweep(result, path.with_suffix(".png"))
    return path


def plot_sweep(result: dict[str, Any], path: Path) -> None:
    levels = result["levels"]
    x = [lv["concurrency"] for lv in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(
        x, [lv["output_throughput"] or lv["streamed_chunk_throughput"] for lv in levels], marker="o"
    )
    left.set(
        xlabel="concurrency",
        ylabel="output tokens/s (streamed chunks/s if not reported)",
        title="Throughput",
    )
    for key, label in (("e2el_s", "E2EL"), ("ttft_s", "TTFT")):
        right.plot(
            x, [lv[key].get("p50", float("nan")) for lv in levels], marker="o", label=f"{label} p50"
        )
    right.set(xlabel="concurrency", ylabel="seconds", title="Latency")
    right.legend()
    fig.suptitle(f"{result['model']} ({result['provider']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
