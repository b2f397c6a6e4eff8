"""Relationship-type accuracy at 30, 60 and 90 types, on the same chunks with the same model.

    .venv/bin/python benchmarks/vocabulary_sizes.py [--per-category 1] [--base-url URL --model M]

Without --base-url it starts the embedded llama.cpp model. Every vocabulary sees the same chunks;
the references' type_60 / type_90 give the expected finer types. Writes
benchmarks/results/vocabulary_sizes.md (and .json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from kg_pipeline.contract.vocabulary import named_vocabulary
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import load_corpus, sample_per_category
from kg_pipeline.extraction.baseline import curated_baseline
from kg_pipeline.extraction.extract import extract_chunks
from kg_pipeline.middleware.resilient import ResilientProvider
from kg_pipeline.providers import create_provider
from kg_pipeline.quality.report import build_quality_report
from kg_pipeline.serving.endpoints import benchmark_target

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT / "test_corpus"))
    parser.add_argument("--per-category", type=int, default=1)
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--provider", default="llamacpp")
    args = parser.parse_args()

    settings = benchmark_target(args.base_url, args.model, args.provider)
    docs, _ = load_corpus(args.corpus)
    docs = sample_per_category(docs, args.per_category)
    chunks = [c for d in docs for c in chunk_document(d.document_id, d.text)]
    baseline = curated_baseline(docs)
    rows = []
    for name in ("base31", "kg60", "kg90"):
        vocabulary = named_vocabulary(name)
        started = time.perf_counter()

        async def run(vocab=vocabulary):  # type: ignore[no-untyped-def]
            provider = ResilientProvider(create_provider(settings))
            try:
                return await extract_chunks(provider, chunks, vocab)
            finally:
                await provider.aclose()

        records = asyncio.run(run())
        report = build_quality_report(docs, chunks, records, baseline, vocabulary)
        rel = report.relationships()
        accuracy = report.figures["relationship_type_accuracy"]
        rows.append(
            {
                "vocabulary": name,
                "types": len(vocabulary),
                "chunks": len(chunks),
                "schema_valid_rate": report.schema_valid_rate,
                "endpoint_matches": rel.endpoint_matches,
                "type_matches": rel.type_matches,
                "type_accuracy": accuracy.value,  # null when nothing matched, never 0.0
                "type_accuracy_interval": accuracy.interval,
                "type_accuracy_text": accuracy.describe(),
                "relationship_f1": rel.prf.f1,
                "off_vocabulary_types": report.hallucinations.off_vocabulary_types,
                "wall_seconds": time.perf_counter() - started,
            }
        )
        print(json.dumps(rows[-1]))
    out = ROOT / "benchmarks" / "results" / "vocabulary_sizes"
    out.with_suffix(".json").write_text(
        json.dumps({"model": settings.model, "rows": rows}, indent=1) + "\n"
    )
    lines = [
        f"Relationship-type accuracy by vocabulary size: {settings.model}, {len(chunks)} chunks "
        f"({args.per_category} shortest document(s) per category), curated references.",
        "",
        "| vocabulary | types | schema-valid | endpoint-matched relationships | type matches "
        "| type accuracy (n, bootstrap 95 % CI) | relationship F1 | off-vocabulary types "
        "| wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['vocabulary']} | {r['types']} | {r['schema_valid_rate']:.3f} | "
            f"{r['endpoint_matches']} | {r['type_matches']} | {r['type_accuracy_text']} | "
            f"{r['relationship_f1']:.3f} | {r['off_vocabulary_types']} | {r['wall_seconds']:.0f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
