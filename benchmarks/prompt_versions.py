"""The prompt versions side by side through the product path, to choose the default by measurement.

    .venv/bin/python benchmarks/prompt_versions.py project --sample 2 --versions v1,v6
    .venv/bin/python benchmarks/prompt_versions.py redocred --sample 50 --seed 0 --versions v6
    .venv/bin/python benchmarks/prompt_versions.py text2kgbench --sample 50 --ontology airport

One llama-server with the embedded model (``--slots`` parallel slots) serves every version in
turn. Each version is a model registered under its own name in a configuration database of the
benchmark's own, identical but for its ``prompt_version``, and is run as a user runs it:
``project`` runs `kg run --sample N` (the N shortest documents of each category of the project's
corpus, curated references, base vocabulary), ``redocred`` runs `kg bench redocred --split dev
--sample N --seed K` (a seeded sample of Re-DocRED dev, its 96 relation types), ``text2kgbench``
`kg bench text2kgbench --split train` likewise (sentences of the ontologies named with
``--ontology``, their relations as the vocabulary; the report adds the data set's own metrics,
in the headline figures kept here). The response
cache lives in the benchmark's own database, so every figure comes from fresh answers. Each
version's quality report is read back and its headline figures (with 95 % bootstrap intervals
over documents for the F1 figures) written to
``benchmarks/results/prompt_versions-<corpus>-n<N>[-seed<K>].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from embedded_servers import free_port

from kg_pipeline.contract.messages import PROMPT_VERSIONS
from kg_pipeline.corpus.importers.gold_sets import GOLD_SETS, bench_folder_name
from kg_pipeline.defs.registry import config_from_entry
from kg_pipeline.quality.concepts import PRF, MatchLevel
from kg_pipeline.quality.estimates import f1_interval
from kg_pipeline.quality.headline import summary_metrics
from kg_pipeline.quality.report import QualityReport
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.serving.hardware import hardware_profile
from kg_pipeline.serving.local_server import REQUEST_TIMEOUT_SECONDS, LocalServer, cpu_threads
from kg_pipeline.store.config import ConfigStore
from kg_pipeline.store.database import create_engine

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def full_version(short: str) -> str:
    name = short if short.startswith("kg-extract-") else f"kg-extract-{short}"
    if name not in PROMPT_VERSIONS:
        raise SystemExit(f"unknown prompt version {short!r}; known: {', '.join(PROMPT_VERSIONS)}")
    return name


def with_interval(counts: list[PRF]) -> dict[str, Any]:
    """Micro P/R/F1 over the documents' counts, and the F1's bootstrap interval over documents."""
    total = PRF(
        sum(c.true_positives for c in counts),
        sum(c.predicted for c in counts),
        sum(c.reference for c in counts),
    )
    low, high = f1_interval([(c.true_positives, c.predicted, c.reference) for c in counts])
    return {
        "precision": total.precision,
        "recall": total.recall,
        "f1": total.f1,
        "f1_interval_95": [low, high],
        "true_positives": total.true_positives,
        "predicted": total.predicted,
        "reference": total.reference,
    }


def figures(report: QualityReport) -> dict[str, Any]:
    docs = report.documents
    out: dict[str, Any] = {
        "documents": len(docs),
        "chunks": sum(d.chunks for d in docs),
        "valid_chunks": sum(d.valid_chunks for d in docs),
        "entity_exact": with_interval([d.concepts[MatchLevel.EXACT] for d in docs]),
        f"entity_{report.top_level.value}": with_interval(
            [d.concepts[report.top_level] for d in docs]
        ),
        "pairs_exact": with_interval([d.pairs_exact for d in docs]),
        "relations_exact": with_interval([d.relationships_exact for d in docs]),
        "headline": dict(summary_metrics(report)),
        "model_quote_precision": report.figures["model_quote_precision"].model_dump(),
        "quote_precision": report.figures["quote_precision"].model_dump(),
    }
    if len(report.categories) > 1:
        out["entity_exact_by_category"] = {
            category: with_interval(
                [d.concepts[MatchLevel.EXACT] for d in docs if d.category == category]
            )
            for category in report.categories
        }
        out["relationship_f1_by_category"] = {
            category: report.relationships(category).prf.f1 for category in report.categories
        }
    return out


def run_version(
    version: str, corpus: str, args: argparse.Namespace, base_url: str, state: Path
) -> dict[str, Any]:
    short = version.removeprefix("kg-extract-")
    home = state / f"{short}-dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home)
    results = state / f"{short}-results"
    database = f"sqlite:///{state / 'config.sqlite3'}"
    env = os.environ | {
        "KG_DATABASE_URL": database,
        "DAGSTER_HOME": str(home),
        "KG_RESULTS_DIR": str(results),
    }
    name = f"embedded-{short}"
    entry = DEFAULT_ENDPOINT.model_copy(
        update={
            "name": name,
            "base_url": base_url,
            "max_concurrent_requests": args.slots,
            "timeout_seconds": REQUEST_TIMEOUT_SECONDS,
            "manage_local_server": False,
        }
    )
    config = config_from_entry(entry, active=False)
    config = config.model_copy(
        update={"options": config.options.model_copy(update={"prompt_version": version})}
    )
    ConfigStore(create_engine(database)).save(config, updated_by="benchmark")
    if corpus == "project":
        command = ["run", "--sample", str(args.sample), "--model", name]
        report_file = results / "quality" / f"{name}.json"
    else:
        gold_set = GOLD_SETS[corpus]
        split = gold_set.default_split
        ontologies = tuple(args.ontology) if corpus == "text2kgbench" else ()
        command = ["bench", corpus, "--split", split, "--sample", str(args.sample),
                   "--seed", str(args.seed), "--model", name, "--no-cache"]  # fmt: skip
        command += [arg for ontology in ontologies for arg in ("--ontology", ontology)]
        folder = bench_folder_name(gold_set, split, args.sample, args.seed, ontologies)
        report_file = results / "bench" / folder / "quality" / f"{name}.json"
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "kg"), *command], env=env, cwd=ROOT, capture_output=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"`kg {' '.join(command)}` failed:\n{done.stdout[-3000:]!r}\n{done.stderr[-3000:]!r}"
        )
    report = QualityReport.model_validate_json(report_file.read_text(encoding="utf-8"))
    return {"command": "kg " + " ".join(command), "seconds": round(seconds, 1)} | figures(report)


def markdown(out: dict[str, Any]) -> str:
    lines = [
        f"# Prompt versions on {out['corpus']} ({out['sample']}, seed {out['seed']})",
        "",
        "| version | docs | entity F1 exact (95 % CI) | pair F1 exact | typed F1 exact | "
        "relationship F1 (report's ends) | "
        "verbatim quotes, model | s/doc | output tokens/doc | run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for version, row in out["versions"].items():
        entity = row["entity_exact"]
        low, high = entity["f1_interval_95"]
        head = row["headline"]
        quotes = row["model_quote_precision"]
        quote_text = (
            "n/a" if quotes["value"] is None else f"{quotes['value']:.3f} (n = {quotes['n']})"
        )
        seconds = head.get("seconds_per_document")
        tokens = head.get("completion_tokens_per_document")
        lines.append(
            f"| {version} | {row['documents']} | {entity['f1']:.3f} ({low:.3f} to {high:.3f}) | "
            f"{row['pairs_exact']['f1']:.3f} | {row['relations_exact']['f1']:.3f} | "
            f"{head['relationship_f1']:.3f} | "
            f"{quote_text} | {'n/a' if seconds is None else f'{seconds:.1f}'} | "
            f"{'n/a' if tokens is None else f'{tokens:.0f}'} | {row['seconds']:.0f} s |"
        )
    t2k = [
        (version, row["headline"])
        for version, row in out["versions"].items()
        if "text2kgbench_model_f1" in row["headline"]
    ]
    if t2k:
        figures = ("precision", "recall", "f1", "conformance", "subject_hallucination",
                   "relation_hallucination", "object_hallucination")  # fmt: skip
        lines += [
            "",
            "Text2KGBench's own metrics (macro over ontologies), the model's answers:",
            "",
            "| version | " + " | ".join(figures) + " |",
            "|---|" + "---|" * len(figures),
        ]
        for version, head in t2k:
            cells = [head.get(f"text2kgbench_model_{name}") for name in figures]
            lines.append(
                f"| {version} | "
                + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells)
                + " |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", choices=["project", "redocred", "text2kgbench"])
    parser.add_argument("--versions", default="v1,v6", help="Comma-separated, e.g. v1,v6.")
    parser.add_argument("--sample", type=int, required=True,
                        help="project: documents per category; redocred: documents.")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="redocred's draw (project: unused).")
    parser.add_argument("--ontology", action="append", default=[],
                        help="text2kgbench: an ontology to sample (repeatable).")  # fmt: skip
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=cpu_threads())
    args = parser.parse_args()
    versions = [full_version(v.strip()) for v in args.versions.split(",") if v.strip()]
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        server = LocalServer(
            port=free_port(), threads=args.threads, slots=args.slots, state_dir=state
        )
        server.start()
        try:
            for version in versions:
                rows[version] = run_version(version, args.corpus, args, server.base_url, state)
                print(version, json.dumps(rows[version]["entity_exact"]), flush=True)
        finally:
            server.stop()
    if args.corpus == "project":
        sample = f"{args.sample} shortest documents per category"
    else:
        split = GOLD_SETS[args.corpus].default_split
        sample = f"{args.sample} documents of {split}" + "".join(f", {o}" for o in args.ontology)
    out = {
        "corpus": args.corpus,
        "sample": sample,
        "seed": None if args.corpus == "project" else args.seed,
        "slots": args.slots,
        "threads": args.threads,
        "versions": rows,
        "hardware": hardware_profile(),
    }
    stem = "-".join(["prompt_versions", args.corpus, *sorted(args.ontology), f"n{args.sample}"])
    if args.corpus != "project":
        stem += f"-seed{args.seed}"
    path = ROOT / "benchmarks" / "results" / stem
    path.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    path.with_suffix(".md").write_text(markdown(out))
    print(markdown(out))
    print(path.with_suffix(".json"))


if __name__ == "__main__":
    main()
