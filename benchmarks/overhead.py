"""Orchestration overhead on a 100-chunk run: the whole corpus through `extractions`, against a
loopback server that answers every request after a fixed latency, compared with the same
requests sent straight to that server at the same concurrency, in the same run.

    .venv/bin/python benchmarks/overhead.py [--latency 0.5] [--concurrency 4]

With the model's time held constant, what remains is the pipeline's own cost: Dagster, prompt
building, parsing and validating every answer, the configuration poll per chunk, writing the
records. (`efficiency.py` measures the same ratio against the real embedded model, on fewer
chunks: a CPU model takes ~30 s a chunk.) Writes benchmarks/results/overhead-<latency>s.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import load_corpus
from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.baseline import CLOUD_BASELINE_KEY, cloud_baseline_endpoint
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from kg_pipeline.defs.registry import MODEL_PARTITIONS
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.providers import OpenAICompatibleProvider
from kg_pipeline.serving.hardware import hardware_profile
from kg_pipeline.store.config import ConfigStore, ModelConfig

ROOT = Path(__file__).resolve().parents[1]
NAME = "fixed-latency"
# A realistic answer: a dozen concepts, quotes and relationships to parse and validate.
ANSWER = {
    "concepts": [
        {"concept_id": f"concept_{i:03d}", "label": f"concept {i}", "description": "A thing.",
         "search_terms": [f"term {i}"]}
        for i in range(1, 13)
    ],
    "instances": [{"concept_id": f"concept_{i:03d}", "quote": "the"} for i in range(1, 13)],
    "relationships": [
        {"from_concept_id": f"concept_{i:03d}", "to_concept_id": f"concept_{i + 1:03d}",
         "relationship_type": "PART_OF", "confidence": 0.8,
         "direction_semantics": "outward"}
        for i in range(1, 12)
    ],
}  # fmt: skip


@contextmanager
def fixed_latency_server(latency: float) -> Iterator[str]:
    body = json.dumps(
        {
            "choices": [{"message": {"content": json.dumps(ANSWER)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 450},
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def raw_run(config: ModelConfig, texts: list[str]) -> float:
    """The same requests with httpx, ``max_concurrent_requests`` in flight."""
    settings = config.settings()
    provider = OpenAICompatibleProvider(settings)
    schema = extraction_json_schema()
    limit = asyncio.Semaphore(settings.max_concurrent_requests)
    async with httpx.AsyncClient(base_url=settings.base_url, timeout=60) as client:

        async def one(text: str) -> None:
            async with limit:
                payload = provider.build_request(build_messages(text), schema, "json_schema")
                response = await client.post("/v1/chat/completions", json=payload)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        return time.perf_counter() - started


def pipeline_run(corpus: Path) -> tuple[float, float, int]:
    """Seconds for the whole run, seconds of the `extractions` step, valid chunks."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(MODEL_PARTITIONS, [NAME])
        started = time.perf_counter()
        result = dg.materialize(
            [documents, chunks, extractions],
            partition_key=NAME,
            instance=instance,
            resources={
                "model_registry": ModelRegistry(),
                CLOUD_BASELINE_KEY: cloud_baseline_endpoint(),
            },
            run_config=dg.RunConfig(
                ops={
                    "documents": DocumentsConfig(corpus_dir=str(corpus)),
                    "extractions": ExtractionsConfig(use_cache=False),
                }
            ),
        )
        seconds = time.perf_counter() - started
    records = result.output_for_node("extractions")
    [step] = [e for e in result.all_events if e.is_step_success and e.step_key == "extractions"]
    step_seconds = step.event_specific_data.duration_ms / 1000  # type: ignore[union-attr]
    return seconds, step_seconds, sum(r.status.value == "valid" for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="Seconds per request.")
    parser.add_argument("--concurrency", type=int, default=4, help="The endpoint's slots.")
    parser.add_argument("--corpus", default=str(ROOT / "test_corpus"))
    args = parser.parse_args()
    docs, _ = load_corpus(args.corpus)
    texts = [c.text for d in docs for c in chunk_document(d.document_id, d.text)]
    with fixed_latency_server(args.latency) as url:
        config = ConfigStore().save(
            ModelConfig(
                name=NAME, provider="vllm", model_name="fixed", base_url=url,
                max_concurrent_requests=args.concurrency,
                options={"structured_output": "json_schema"},  # type: ignore[arg-type]
            ),
            updated_by="overhead benchmark",
        )  # fmt: skip
        raw_before = asyncio.run(raw_run(config, texts))
        pipeline_seconds, step_seconds, valid = pipeline_run(Path(args.corpus))
        raw_after = asyncio.run(raw_run(config, texts))
    raw_seconds = (raw_before + raw_after) / 2
    n = len(texts)
    out = {
        "chunks": n,
        "valid_chunks": valid,
        "server_latency_seconds": args.latency,
        "concurrency": args.concurrency,
        "raw_seconds_before": round(raw_before, 3),
        "raw_seconds_after": round(raw_after, 3),
        "raw_chunks_per_minute": round(n / raw_seconds * 60, 1),
        "pipeline_seconds": round(pipeline_seconds, 3),
        "extractions_step_seconds": round(step_seconds, 3),
        "pipeline_chunks_per_minute": round(n / pipeline_seconds * 60, 1),
        # The definition: the extractions asset's rate over the raw server's.
        "efficiency": round(raw_seconds / step_seconds, 4),
        # The whole run (documents and chunks steps, Dagster's start-up) against the raw time.
        "efficiency_whole_run": round(raw_seconds / pipeline_seconds, 4),
        "orchestration_overhead_share": round(1 - raw_seconds / pipeline_seconds, 4),
        "pipeline_cost_per_chunk_ms": round((step_seconds - raw_seconds) / n * 1000, 2),
        "hardware": hardware_profile(),
    }
    path = ROOT / "benchmarks" / "results" / f"overhead-{args.latency:g}s.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "hardware"}, indent=1))


if __name__ == "__main__":
    main()
