"""The `kg` command: the embedded model server, the model registry, the corpus and the jobs."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import click

from kg_pipeline.cli.admin import admin, extraction
from kg_pipeline.cli.analytics import analytics_command
from kg_pipeline.cli.bench import bench
from kg_pipeline.cli.common import fail, open_store, served_models
from kg_pipeline.cli.image import ingest_image_command
from kg_pipeline.cli.local import local
from kg_pipeline.cli.operator import export_training_data_command, recommend_command
from kg_pipeline.cli.routing import routing
from kg_pipeline.cli.run import ingest, run, ui
from kg_pipeline.cli.store import store
from kg_pipeline.contract.reference import check_reference
from kg_pipeline.contract.vocabulary import (
    BASE_VOCABULARY,
    Vocabulary,
    VocabularyError,
    load_vocabulary,
    resolve_vocabulary,
)
from kg_pipeline.corpus.documents import corpus_vocabulary_file, load_corpus
from kg_pipeline.corpus.importers.common import (
    GoldSetFormatError,
    ImportedDocument,
    ImportSummary,
    write_document,
    write_vocabulary,
)
from kg_pipeline.corpus.importers.redocred import import_redocred
from kg_pipeline.corpus.importers.text2kgbench import import_text2kgbench
from kg_pipeline.corpus.stats import corpus_stats_markdown
from kg_pipeline.providers import ProviderError


@click.group()
def main() -> None:
    """kg_pipeline: knowledge-graph extraction with local LLMs."""


@main.command()
def endpoints() -> None:
    """List the registered models and check that each server serves its model."""
    store = open_store()
    all_ok = True
    for config in store.list():
        try:
            served = asyncio.run(served_models(config))
        except ProviderError as exc:
            click.secho(f"✗ {config.name}: {exc}", fg="red")
            all_ok = False
            continue
        active = " (active)" if config.active else ""
        if config.model_name in served:
            click.secho(
                f"✓ {config.name}{active}: {config.model_name} at {config.base_url}", fg="green"
            )
        else:
            all_ok = False
            click.secho(
                f"✗ {config.name}: {config.base_url} does not serve {config.model_name!r} "
                f"(it serves: {', '.join(served) or 'nothing'})",
                fg="red",
            )
    sys.exit(0 if all_ok else 1)


for command in (analytics_command, recommend_command, export_training_data_command):
    extraction.add_command(command)
admin.add_command(routing)
admin.add_command(store)
main.add_command(admin)
main.add_command(local)
ingest.add_command(ingest_image_command)


def _checked_vocabulary(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A vocabulary that does not resolve stops the command before it launches a run: one line
    naming the known vocabularies, not a failed run's traceback."""
    if value:
        try:
            resolve_vocabulary(value)
        except VocabularyError as exc:
            fail(str(exc))
    return value


# The commands are defined with their groups; checking their --vocabulary is wired here, where
# the groups are put together.
for command in (ingest.commands["text"], ingest_image_command):
    for param in command.params:
        if param.name == "vocabulary":
            param.callback = _checked_vocabulary
main.add_command(ingest)
main.add_command(run)
main.add_command(bench)
main.add_command(ui)


@main.group()
def corpus() -> None:
    """Corpus documents and their reference extractions."""


@corpus.command("check")
@click.argument("path", default="test_corpus", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--vocabulary",
    "vocabulary_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Relation vocabulary (default: PATH/vocabulary.json if present, else the base 31).",
)
def corpus_check(path: str, vocabulary_file: str | None) -> None:
    """Check every document and reference under PATH against the annotation guideline."""
    default_vocabulary = corpus_vocabulary_file(path)
    try:
        if vocabulary_file:
            vocabulary = load_vocabulary(vocabulary_file)
        elif default_vocabulary is not None:
            vocabulary = load_vocabulary(default_vocabulary)
        else:
            vocabulary = BASE_VOCABULARY
    except VocabularyError as exc:
        fail(str(exc))
    docs, bad = load_corpus(path)
    failures = 0
    for problem in bad:
        click.secho(f"✗ {problem}", fg="red")
        failures += 1
    for doc in docs:
        if doc.reference is None:
            click.secho(f"✗ {doc.path}: no reference extraction", fg="red")
            failures += 1
            continue
        problems = check_reference(doc.text, doc.reference, vocabulary)
        for text in problems:
            click.secho(f"✗ {doc.path}: {text}", fg="red")
        failures += bool(problems)
    click.echo(f"{len(docs) + len(bad)} documents, {failures} with problems ({vocabulary.name})")
    sys.exit(1 if failures else 0)


@corpus.command("stats")
@click.argument("path", default="test_corpus", type=click.Path(exists=True, file_okay=False))
def corpus_stats(path: str) -> None:
    """Documents, words, chunks and reference sizes per category, as a Markdown table."""
    docs, _ = load_corpus(path)
    if not docs:
        fail(f"no readable documents under {path}")
    click.echo(corpus_stats_markdown(docs), nl=False)


@corpus.group("import")
def corpus_import() -> None:
    """Turn a public gold data set into corpus documents with reference extractions."""


_out = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Corpus folder to write (default: corpora/<data set>).",
)
_limit = click.option("--limit", type=click.IntRange(min=1), help="Import at most N documents.")


def _finish_import(
    name: str, out_dir: Path | None, documents: list[ImportedDocument], vocabulary: Vocabulary,
    summary: ImportSummary,
) -> None:  # fmt: skip
    target = out_dir or Path("corpora") / name
    with click.progressbar(documents, label=f"writing {len(documents)} documents") as bar:
        for doc in bar:
            write_document(target, doc)
    write_vocabulary(target, vocabulary)
    for problem in summary.skipped:
        click.secho(f"skipped {problem}", fg="yellow")
    click.secho(
        f"{summary.documents} documents, {summary.concepts} concepts "
        f"({summary.quoted_concepts} quoted verbatim), {summary.relationships} relationships, "
        f"{len(vocabulary)} relation types -> {target}",
        fg="green",
    )
    # A command to paste, not a description of one: `kg run --corpus` finds the vocabulary.json
    # written above and scores against the imported references. Quoted as a shell reads it: a
    # corpus folder may have spaces in its name.
    click.echo("next: extract it with the active model and score it against the data set:")
    click.echo(f"  {shlex.join(['kg', 'run', '--corpus', str(target)])}")


@corpus_import.command("redocred")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rel-info",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Relation names (default: rel_info.json beside PATH).",
)
@_limit
@_out
def import_redocred_command(
    path: Path, rel_info: Path | None, limit: int | None, out_dir: Path | None
) -> None:
    """DocRED / Re-DocRED JSON (e.g. dev_revised.json)."""
    try:
        documents, vocabulary, summary = import_redocred(path, rel_info, limit)
    except GoldSetFormatError as exc:
        fail(str(exc))
    _finish_import("redocred", out_dir, documents, vocabulary, summary)


@corpus_import.command("text2kgbench")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--ontology", "ontologies", multiple=True, help="Only this ontology (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="At most N sentences per ontology.")
@_out
def import_text2kgbench_command(
    path: Path, ontologies: tuple[str, ...], limit: int | None, out_dir: Path | None
) -> None:
    """Text2KGBench folder holding ontologies/ and train/ (or test/) JSONL files."""
    try:
        documents, vocabulary, summary = import_text2kgbench(path, list(ontologies) or None, limit)
    except GoldSetFormatError as exc:
        fail(str(exc))
    _finish_import("text2kgbench", out_dir, documents, vocabulary, summary)
