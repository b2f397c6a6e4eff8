"""Pipeline efficiency: the `extractions` asset's chunks/minute divided by the raw server's, on the
same chunks, at the same concurrency, in the same run (with seed 0 both produce the same tokens).

    .venv/bin/python benchmarks/efficiency.py [--per-category 1]

Raw: the identical extraction requests sent straight to the server with httpx, one at a time
(the embedded server's concurrency), once before and once after the pipeline so that drift in the
machine's speed shows. Pipeline: `documents -> chunks -> extractions` materialized in-process by
Dagster, response cache off. Overhead = pipeline wall time not spent in model calls.
Writes benchmarks/results/efficiency.json.
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
from kg_pipeline.store.config import ConfigStore

ROOT = Path(__file__).resolve().parents[1]


async def raw_run(settings: EndpointSettings, texts: list[str]) -> float:
    provider = OpenAICompatibleProvider(settings)
    schema = extraction_json_schema()
    async with httpx.AsyncClient(
        base_url=settings.base_url, timeout=settings.timeout_seconds
    ) as client:
        started = time.perf_counter()
        for text in texts:
            payload = provider.build_request(build_messages(text), schema, provider.dialect)
            response = await client.post("/v1/chat/completions", json=payload)
            response.raise_for_status()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=1)
    args = parser.parse_args()
    settings = benchmark_target()
    docs, _ = load_corpus(ROOT / "test_corpus")
    docs = sample_per_category(docs, args.per_category)
    texts = [c.text for d in docs for c in chunk_document(d.document_id, d.text)]

    raw_before = asyncio.run(raw_run(settings, texts))

    store = ConfigStore()
    store.save(config_from_entry(DEFAULT_ENDPOINT, active=True), updated_by="efficiency benchmark")
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
        "orchestration_overhead_share": (pipeline_seconds - model_seconds) / pipeline_seconds,
        "concurrency": settings.max_concurrent_requests,
        "model": settings.model,
    }
    path = ROOT / "benchmarks" / "results" / "efficiency.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
