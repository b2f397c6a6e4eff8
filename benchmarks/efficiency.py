"""Pipeline efficiency: the `extractions` asset's chunks/minute divided by the raw server's, on the
same chunks, at the same concurrency, in the same run (with seed 0 both produce the same tokens).

    .venv/bin/python benchmarks/efficiency.py [--per-category 1] [--concurrency N]

Raw: the identical extraction requests sent straight to the server with httpx, at most
``--concurrency`` in flight (default: the embedded server's slots; the server must have at least as
many), once before and once after the pipeline so that drift in the machine's speed shows. The
pipeline's registered model gets the same concurrency. Pipeline: `documents -> chunks ->
extractions` materialized in-process by Dagster, response cache off. Overhead = pipeline wall time
not spent in model calls. Writes benchmarks/results/efficiency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import dagster as dg
import httpx

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import load_corpus, sample_per_category
from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.baseline import CLOUD_BASELINE_KEY, cloud_baseline_endpoint
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from kg_pipeline.defs.registry import MODEL_PARTITIONS, config_from_entry
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT, benchmark_target
from kg_pipeline.serving.local_server import DEFAULT_PORT, DEFAULT_SLOTS, LocalServer
from kg_pipeline.store.config import ConfigStore

ROOT = Path(__file__).resolve().parents[1]


async def raw_run(settings: EndpointSettings, texts: list[str]) -> float:
    provider = OpenAICompatibleProvider(settings)
    schema = extraction_json_schema()
    in_flight = asyncio.Semaphore(settings.max_concurrent_requests)
    limits = httpx.Limits(max_connections=settings.max_concurrent_requests)
    async with httpx.AsyncClient(
        base_url=settings.base_url, timeout=settings.timeout_seconds, limits=limits
    ) as client:

        async def send(text: str) -> None:
            payload = provider.build_request(build_messages(text), schema, provider.dialect)
            async with in_flight:
                response = await client.post("/v1/chat/completions", json=payload)
            response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(send(text) for text in texts))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=1)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_SLOTS,
        help="Requests in flight, raw and in the pipeline (default: the embedded server's slots).",
    )
    args = parser.parse_args()
    settings = benchmark_target().model_copy(update={"max_concurrent_requests": args.concurrency})
    slots = LocalServer(port=DEFAULT_PORT).status().slots or 1
    if slots < args.concurrency:
        raise SystemExit(
            f"the embedded server has {slots} slots: start it with "
            f"`kg local start --parallel {args.concurrency}` to measure that many in flight"
        )
    entry = DEFAULT_ENDPOINT.model_copy(update={"max_concurrent_requests": args.concurrency})
    docs, _ = load_corpus(ROOT / "test_corpus")
    docs = sample_per_category(docs, args.per_category)
    texts = [c.text for d in docs for c in chunk_document(d.document_id, d.text)]

    raw_before = asyncio.run(raw_run(settings, texts))

    store = ConfigStore()
    store.save(config_from_entry(entry, active=True), updated_by="efficiency benchmark")
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(MODEL_PARTITIONS, [DEFAULT_ENDPOINT.name])
        started = time.perf_counter()
        result = dg.materialize(
            [documents, chunks, extractions],
            partition_key=DEFAULT_ENDPOINT.name,
            instance=instance,
            resources={
                "model_registry": ModelRegistry(),
                CLOUD_BASELINE_KEY: cloud_baseline_endpoint(),
            },
            run_config=dg.RunConfig(
                ops={
                    "documents": DocumentsConfig(
                        corpus_dir=str(ROOT / "test_corpus"), sample_per_category=args.per_category
                    ),
                    "extractions": ExtractionsConfig(use_cache=False),
                }
            ),
        )
    pipeline_seconds = time.perf_counter() - started
    raw_after = asyncio.run(raw_run(settings, texts))
    raw_seconds = (raw_before + raw_after) / 2
    records = result.output_for_node("extractions")
    model_seconds = sum(r.stats.wall_seconds for r in records if r.stats)
    n = len(texts)
    out = {
        "chunks": n,
        "raw_seconds_before": raw_before,
        "raw_seconds_after": raw_after,
        "raw_seconds": raw_seconds,
        "raw_chunks_per_minute": n / raw_seconds * 60,
        "pipeline_seconds": pipeline_seconds,
        "pipeline_chunks_per_minute": n / pipeline_seconds * 60,
        "efficiency": raw_seconds / pipeline_seconds,
        "model_call_seconds_in_pipeline": model_seconds,
        # Wall time not spent in model calls: only one at a time (with more in flight, their
        # seconds overlap and add up to more than the wall time).
        "orchestration_overhead_share": (pipeline_seconds - model_seconds) / pipeline_seconds
        if args.concurrency == 1
        else None,
        "concurrency": settings.max_concurrent_requests,
        "model": settings.model,
    }
    path = ROOT / "benchmarks" / "results" / "efficiency.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
