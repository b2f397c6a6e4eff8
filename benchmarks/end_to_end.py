"""End to end: the time from a 10,000-word document to stored extractions, per model.

    .venv/bin/python benchmarks/end_to_end.py [--model NAME] [--words 10000]

The document is real corpus text (technical, then academic documents, in order) cut at the first
sentence end past the word count. It goes through `ingest_job` — read, chunk, extract with the
registered model (default: the active one), merge, write the graph and the records — exactly as
`kg ingest` runs it, with the response cache off. Writes benchmarks/results/end_to_end-<model>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import dagster as dg

from kg_pipeline.corpus.documents import load_corpus
from kg_pipeline.defs.registry import ensure_registered
from kg_pipeline.serving.hardware import hardware_profile
from kg_pipeline.store.config import ConfigStore

ROOT = Path(__file__).resolve().parents[1]


def long_document(words: int) -> str:
    docs, _ = load_corpus(ROOT / "test_corpus")
    ordered = [d for c in ("technical", "academic") for d in docs if d.category == c]
    text = "\n\n".join(d.text.strip() for d in ordered)
    tokens = list(re.finditer(r"\S+", text))
    if len(tokens) < words:
        raise SystemExit(f"the corpus has only {len(tokens)} words in those categories")
    end = tokens[words - 1].end()
    sentence_end = re.search(r"[.!?](\s|$)", text[end:])
    return text[: end + (sentence_end.end() if sentence_end else 0)].strip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="A registered model (default: the active one).")
    parser.add_argument("--words", type=int, default=10_000)
    args = parser.parse_args()
    store = ConfigStore()
    ensure_registered(store)
    config = store.get(args.model) if args.model else store.active()

    from kg_pipeline.definitions import defs

    with tempfile.TemporaryDirectory() as tmp:
        document = Path(tmp) / "long.md"
        document.write_text(long_document(args.words), encoding="utf-8")
        output = Path(tmp) / "graph.json"
        run_config = {
            "ops": {
                "ingest_files": {
                    "config": {
                        "files": [str(document)],
                        "output": str(output),
                        "model": config.name,
                        "use_cache": False,
                    }
                }
            }
        }
        with dg.DagsterInstance.ephemeral() as instance:
            started = time.perf_counter()
            result = defs.get_job_def("ingest_job").execute_in_process(
                run_config=run_config, instance=instance
            )
            seconds = time.perf_counter() - started
        graph = json.loads(output.read_text())
        records = [
            json.loads(line) for line in Path(graph["records_file"]).read_text().splitlines()
        ]
        words = len(document.read_text().split())
    assert result.success
    [doc] = graph["documents"]
    stats = [r["stats"] for r in records if r.get("stats")]
    out = {
        "model": config.model_name,
        "registered_as": config.name,
        "provider": config.provider,
        "words": words,
        "chunks": doc["chunks"],
        "valid_chunks": doc["chunks"] - len(doc["failed_chunks"]),
        "seconds_to_stored_extractions": round(seconds, 1),
        "seconds_per_chunk": round(seconds / doc["chunks"], 1),
        "model_call_seconds": round(sum(s["wall_seconds"] for s in stats), 1),
        "prompt_tokens": sum(s.get("prompt_tokens") or 0 for s in stats),
        "output_tokens": sum(s.get("completion_tokens") or 0 for s in stats),
        "concepts_in_graph": len(doc["graph"]["concepts"]),
        "relationships_in_graph": len(doc["graph"]["relationships"]),
        "hardware": hardware_profile(),
    }
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", config.name)
    path = ROOT / "benchmarks" / "results" / f"end_to_end-{name}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "hardware"}, indent=1))


if __name__ == "__main__":
    main()
