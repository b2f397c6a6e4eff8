"""`kg bench`: a public gold set measured through the product path, in one command.

A seeded sample of the data set is imported as a corpus (the same documents for the same sample
size and seed; kg_pipeline/corpus/importers/gold_sets.py), then the main job runs on it exactly as
`kg run --corpus` runs it (documents -> chunks -> extractions -> quality_report, the corpus's
own relation vocabulary), scored against the data set's references even when a cloud baseline
is configured, and the report's headline figures are printed.

Everything a benchmark writes stays in one folder under the results folder, named after what
decides its documents (``results/bench/redocred-dev-n50-seed0/``: ``corpus/``,
``extractions/<model>.jsonl``, ``quality/<model>.md``), so a benchmark never replaces the
model's report on the project's own corpus, and reports of several models on one sample sit
side by side.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from kg_pipeline.cli.common import fail
from kg_pipeline.cli.run import main_job_ops, registered_model, run_main_job
from kg_pipeline.contract.messages import PROMPT_VERSIONS
from kg_pipeline.corpus.importers.common import (
    GoldSetFormatError,
    write_document,
    write_vocabulary,
)
from kg_pipeline.corpus.importers.gold_sets import (
    GOLD_SETS,
    DataSetNotFound,
    GoldSet,
    bench_folder_name,
    locate_data,
    seeded_sample,
)
from kg_pipeline.quality.headline import headline_markdown
from kg_pipeline.quality.report import QualityReport
from kg_pipeline.quality.text2kgbench import text2kgbench_markdown
from kg_pipeline.settings import RESULTS_DIR

DEFAULT_SAMPLE = 50  # the side script's sample: its figures and these are on the same documents


@contextmanager
def results_in(folder: Path) -> Iterator[None]:
    """The run's result files (records, report) in ``folder``: the assets read the results
    folder from the environment when they run, which is in this process."""
    before = os.environ.get(RESULTS_DIR.name)
    os.environ[RESULTS_DIR.name] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RESULTS_DIR.name, None)
        else:
            os.environ[RESULTS_DIR.name] = before


def import_sample(
    gold_set: GoldSet,
    split: str,
    data: Path | None,
    sample: int,
    seed: int,
    ontologies: tuple[str, ...] = (),
) -> Path:
    """Import the seeded sample into its benchmark folder, replacing an earlier import there,
    and return the folder. A missing or malformed data set ends the command in one line."""
    try:
        path = locate_data(gold_set, split, data)
        documents, vocabulary, summary = gold_set.load(path, split, ontologies or None)
    except (DataSetNotFound, GoldSetFormatError) as exc:
        fail(str(exc))
    chosen = seeded_sample(documents, sample, seed)
    folder = (
        RESULTS_DIR.get() / "bench" / bench_folder_name(gold_set, split, sample, seed, ontologies)
    )
    corpus = folder / "corpus"
    # Written afresh: a document left from an import of another file would join the sample.
    shutil.rmtree(corpus, ignore_errors=True)
    for doc in chosen:
        write_document(corpus, doc)
    write_vocabulary(corpus, vocabulary)
    if summary.skipped:
        click.secho(
            f"{len(summary.skipped)} records of {path} skipped (malformed)", fg="yellow", err=True
        )
    click.echo(
        f"{gold_set.name} {split}: {len(chosen)} of {len(documents)} documents (seed {seed}) "
        f"from {path} -> {corpus}",
        err=True,
    )
    return folder


def run_bench(
    gold_set: GoldSet,
    split: str,
    sample: int,
    seed: int,
    name: str | None,
    data: Path | None,
    no_cache: bool,
    ontologies: tuple[str, ...] = (),
    prompt_version: str | None = None,
) -> None:
    config = registered_model(name)
    folder = import_sample(gold_set, split, data, sample, seed, ontologies)
    with results_in(folder):
        ops = main_job_ops(folder / "corpus", None, prompt_version=prompt_version)
        ops["extractions"]["config"]["use_cache"] = not no_cache
        # The data set's references are the benchmark: never a recorded cloud model.
        ops.setdefault("baseline", {"config": {}})["config"]["use_curated"] = True
        started = time.perf_counter()
        run_main_job(config, ops)
        elapsed = time.perf_counter() - started
    report_file = folder / "quality" / f"{config.name}.md"
    report = QualityReport.model_validate_json(
        report_file.with_suffix(".json").read_text(encoding="utf-8")
    )
    documents = len(report.documents)
    click.echo(
        f"\n{gold_set.name} {split}, {documents} documents (seed {seed}): {report.model} "
        f"({report.endpoint}), prompt {', '.join(report.prompt_versions)}, vocabulary "
        f"{report.vocabulary}; measured against {report.measured_against}\n"
    )
    click.echo(headline_markdown(report))
    if report.text2kgbench is not None:
        click.echo(text2kgbench_markdown(report.text2kgbench))
    per_document = f", {elapsed / documents:.1f} s per document" if documents else ""
    click.echo(f"whole job: {elapsed:.1f} s{per_document}")
    click.echo(f"report: {report_file}")


def _options(gold_set: GoldSet) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every data set's command takes."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("--split", type=click.Choice(gold_set.splits),
                         default=gold_set.default_split, show_default=True,
                         help="Which split of the data set."),
            click.option("--sample", type=click.IntRange(min=1), default=DEFAULT_SAMPLE,
                         show_default=True, help="Documents drawn from the split."),
            click.option("--seed", type=int, default=0, show_default=True,
                         help="Seed of the draw: the same sample and seed, the same documents."),
            click.option("--model", "name",
                         help="Registered model to measure (default: the active one)."),
            click.option("--data", type=click.Path(path_type=Path),
                         help=f"The data set's files: {gold_set.data_help} (default: found "
                         "under KG_DATASETS_DIR or ../shared/datasets)."),
            click.option("--no-cache", is_flag=True,
                         help="Call the model for every chunk (fresh answers), not the cache."),
            click.option("--prompt-version", type=click.Choice(PROMPT_VERSIONS),
                         help="This run's prompt version instead of the model's own."),
        ]  # fmt: skip
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@click.group()
def bench() -> None:
    """Measure a registered model on a public gold set through the pipeline's assets."""


@bench.command("redocred")
@_options(GOLD_SETS["redocred"])
def bench_redocred(
    split: str,
    sample: int,
    seed: int,
    name: str | None,
    data: Path | None,
    no_cache: bool,
    prompt_version: str | None,
) -> None:
    """Re-DocRED documents (Wikipedia paragraphs, 96 relation types)."""
    run_bench(
        GOLD_SETS["redocred"], split, sample, seed, name, data, no_cache,
        prompt_version=prompt_version,
    )  # fmt: skip


@bench.command("text2kgbench")
@_options(GOLD_SETS["text2kgbench"])
@click.option("--ontology", "ontologies", multiple=True,
              help="Only this ontology's sentences, with its relations as the vocabulary "
              "(repeatable; default: every ontology, their relations together).")  # fmt: skip
def bench_text2kgbench(
    split: str,
    sample: int,
    seed: int,
    name: str | None,
    data: Path | None,
    no_cache: bool,
    prompt_version: str | None,
    ontologies: tuple[str, ...],
) -> None:
    """Text2KGBench DBpedia-WebNLG sentences, one document each; besides the report's figures,
    the data set's own: triple P/R/F1, ontology conformance and subject / relation / object
    hallucination, per ontology and overall, as its paper computes them."""
    run_bench(
        GOLD_SETS["text2kgbench"], split, sample, seed, name, data, no_cache, ontologies,
        prompt_version,
    )  # fmt: skip
