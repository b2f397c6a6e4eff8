"""Scoring speed: the quality report over N synthetic documents of ~30 concepts and ~30
relationships each (candidate = reference with labels perturbed, dropped and added).

    .venv/bin/python benchmarks/scoring.py [--documents 500] [--repeat 3]

Writes benchmarks/results/scoring.json. Target: 500 documents in under 2 seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import curated_baseline
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.providers import CallStats
from kg_pipeline.quality.report import build_quality_report

WORDS = [
    "cache",
    "queue",
    "index",
    "policy",
    "enzyme",
    "glacier",
    "harbour",
    "reactor",
    "ledger",
    "signal",
    "membrane",
    "tariff",
    "protocol",
    "sensor",
    "canopy",
    "vaccine",
    "budget",
    "kernel",
    "lattice",
    "turbine",
    "starter",
    "parser",
    "audit",
    "clause",
    "aquifer",
    "plasma",
    "vector",
    "market",
    "archive",
    "circuit",
]
TYPES = list(BASE_VOCABULARY.types)


def label(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, rng.randint(1, 3)))


def synthetic_document(
    index: int, rng: random.Random
) -> tuple[Document, list[Chunk], list[ChunkExtraction]]:
    doc_id = f"synthetic/{index:04d}"
    labels = list(dict.fromkeys(label(rng) for _ in range(40)))[:30]
    text = ". ".join(labels) + "."
    reference = Reference(
        concepts=[
            Concept(concept_id=f"r{i}", label=lab, description="", search_terms=[])
            for i, lab in enumerate(labels)
        ],
        relationships=[
            ReferenceRelationship(
                from_concept_id=f"r{a}",
                to_concept_id=f"r{b}",
                relationship_type=rng.choice(TYPES),
                confidence=1.0,
            )
            for a, b in {
                (rng.randrange(len(labels)), rng.randrange(len(labels))) for _ in range(40)
            }
            if a != b
        ][:30],
    )
    document = Document(
        document_id=doc_id,
        category="synthetic",
        path=doc_id,
        text=text,
        sha256="",
        reference=reference,
    )
    chunks, records = [], []
    for part in range(3):  # three chunks of 10 concepts and 10 relationships
        chunk = Chunk(
            chunk_id=f"{doc_id}#{part:03d}",
            document_id=doc_id,
            index=part,
            text=text,
            start_char=0,
            end_char=len(text),
            start_word=0,
            end_word=1,
        )
        own = labels[part * 10 : part * 10 + 10]
        cand_labels = [
            lab if rng.random() < 0.6 else (lab + "s" if rng.random() < 0.5 else label(rng))
            for lab in own
        ]
        extraction = Extraction(
            concepts=[
                Concept(concept_id=f"c{i}", label=lab, description="", search_terms=[])
                for i, lab in enumerate(cand_labels)
            ],
            instances=[
                Instance(concept_id=f"c{i}", quote=lab) for i, lab in enumerate(cand_labels)
            ],
            relationships=[
                Relationship(
                    from_concept_id=f"c{rng.randrange(10)}",
                    to_concept_id=f"c{rng.randrange(10)}",
                    relationship_type=rng.choice(TYPES),
                    confidence=rng.random(),
                )
                for _ in range(10)
            ],
        )
        chunks.append(chunk)
        records.append(
            ChunkExtraction(
                chunk_id=chunk.chunk_id,
                document_id=doc_id,
                endpoint="bench",
                provider="vllm",
                model="bench",
                vocabulary="base31",
                status=ExtractionStatus.VALID,
                extraction=extraction,
                stats=CallStats(wall_seconds=1.0, completion_tokens=500),
            )
        )
    return document, chunks, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    docs, chunks, records = [], [], []
    for i in range(args.documents):
        d, c, r = synthetic_document(i, rng)
        docs.append(d)
        chunks += c
        records += r
    baseline = curated_baseline(docs)
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        report = build_quality_report(docs, chunks, records, baseline, BASE_VOCABULARY)
        timings.append(time.perf_counter() - started)
    result = {
        "documents": args.documents,
        "reference_concepts_per_document": statistics.fmean(
            len(d.reference.concepts) for d in docs if d.reference
        ),
        "reference_relationships_per_document": statistics.fmean(
            len(d.reference.relationships) for d in docs if d.reference
        ),
        "candidate_concepts_per_document": statistics.fmean(
            d.concepts[report.top_level].predicted for d in report.documents
        ),
        "seconds": timings,
        "seconds_best": min(timings),
        "seconds_median": statistics.median(timings),
        "concept_f1_exact": report.micro().f1,
        "concept_f1_fuzzy": report.micro(report.top_level).f1,
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    out = Path(__file__).with_name("results") / "scoring.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
