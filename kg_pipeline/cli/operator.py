"""Operator commands for `kg admin extraction`: `recommend` (which precision of a model fits this
machine) and `export-training-data` (good extractions as fine-tuning examples).

The commands are plain ``click.Command`` objects, attached to the `extraction` group where the
group is defined; this module imports nothing from the other CLI modules, so that attaching them
there makes no import cycle.
"""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from kg_pipeline.cli.common import fail
from kg_pipeline.contract.vocabulary import VocabularyError, resolve_vocabulary
from kg_pipeline.defs.assets.ingest import Ontology
from kg_pipeline.defs.results_files import results_dir
from kg_pipeline.quality.training_export import (
    ChunkSource,
    ExportSummary,
    QualityScore,
    TrainingExportError,
    TrainingFormat,
    build_training_examples,
    corpus_chunks,
    ingested_chunks,
    load_records,
    record_vocabularies,
    write_examples,
)
from kg_pipeline.serving.quantization import (
    ParameterCount,
    ParameterCountUnknown,
    advise,
    detect_hardware,
    parameters_from_name,
    parameters_from_ollama,
    render_advice,
)
from kg_pipeline.settings import CORPUS_DIR

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
RECORDS_SUFFIX = ".records.jsonl"  # what `kg ingest` writes beside its graph
# Missing chunk ids listed by name; beyond this, only counted.
SHOWN_MISSING = 5


@click.command("recommend")
@click.option("--model", required=True, help="Ollama name (llama3.1:70b-instruct) or HF repo.")
@click.option("--vram-gib", type=click.FloatRange(min=0, min_open=True),
              help="Advise for a GPU of this size instead of this machine's.")  # fmt: skip
@click.option("--params-b", type=click.FloatRange(min=0, min_open=True),
              help="Parameters in billions, when neither name nor Ollama tells.")  # fmt: skip
@click.option("--ollama-url", default=DEFAULT_OLLAMA_URL, show_default=True,
              help="Asked (POST /api/show) when the name does not state the size.")  # fmt: skip
def recommend_command(
    model: str, vram_gib: float | None, params_b: float | None, ollama_url: str
) -> None:
    """Which precision of MODEL fits the GPU: FP16, 8-bit, 4-bit or CPU offload, and the pull
    command for it."""
    parameters = ParameterCount(params_b, "--params-b") if params_b else None
    parameters = parameters or parameters_from_name(model)
    if parameters is None:
        try:
            parameters = parameters_from_ollama(model, ollama_url)
        except ParameterCountUnknown as exc:
            fail(str(exc))
    click.echo(render_advice(advise(model, parameters, detect_hardware(vram_gib))), nl=False)


def _records_and_source(ontology: str, corpus: Path) -> tuple[Path, ChunkSource]:
    """--ontology names a registered model (its pipeline records), a records file, or a `kg
    ingest` graph; the chunk texts come from the corpus or from the graph's files."""
    given = Path(ontology)
    if not given.is_file():
        records = results_dir() / "extractions" / f"{ontology}.jsonl"
        if not records.is_file():
            fail(
                f"{ontology!r} is not a file, and there are no extraction records for a model of "
                f"that name at {records}; run `kg run --model {ontology}` first, or pass a `kg "
                "ingest` graph or a records file (.jsonl)"
            )
        return records, _corpus_source(corpus)
    if given.suffix == ".jsonl":
        graph = given.with_name(given.name.removesuffix(RECORDS_SUFFIX))
        if given.name.endswith(RECORDS_SUFFIX) and graph.is_file():
            return given, _ingest_source(graph)[1]
        return given, _corpus_source(corpus)
    return _ingest_source(given)


def _corpus_source(corpus: Path) -> ChunkSource:
    if not corpus.is_dir():
        fail(
            f"the corpus folder {corpus} does not exist; pass --corpus with the folder whose "
            "documents were extracted"
        )
    return corpus_chunks(corpus)


def _ingest_source(graph: Path) -> tuple[Path, ChunkSource]:
    try:
        ontology = Ontology.model_validate_json(graph.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        fail(
            f"{graph} is not a `kg ingest` graph ({exc}); pass a graph, a records file (.jsonl) "
            "or a registered model's name"
        )

    def located(name: str) -> Path:
        # Paths are stored as given to `kg ingest`: relative to where it ran, usually the
        # graph's own folder or the current one.
        path = Path(name)
        return path if path.is_absolute() or path.exists() else graph.parent / path

    records = located(ontology.records_file)
    if not records.is_file():
        records = graph.with_name(graph.name + RECORDS_SUFFIX)
    if not records.is_file():
        fail(f"the records of {graph} ({ontology.records_file}) are gone; re-run `kg ingest`")
    documents = [(located(d.path), d.sha256) for d in ontology.documents]
    return records, ingested_chunks(documents)


def _report(summary: ExportSummary, min_quality: float, score: QualityScore) -> None:
    mean = summary.mean_kept_score
    click.echo(
        f"{summary.records} records: {summary.kept} kept ({score.value} score >= {min_quality:g}"
        f"{f', mean {mean:.3f}' if mean is not None else ''}), "
        f"{summary.below_threshold} below {min_quality:g}, {summary.failed} failed (no extraction)"
    )
    if summary.other_prompt_version:
        click.secho(
            f"{summary.other_prompt_version} left out: extracted with another prompt version "
            "(the prompt rebuilt now is not the one the model answered)",
            fg="yellow",
        )
    if summary.no_reference:
        click.secho(
            f"{summary.no_reference} left out: their documents have no reference extraction",
            fg="yellow",
        )
    if summary.missing_text:
        shown = ", ".join(summary.missing_text[:SHOWN_MISSING])
        more = len(summary.missing_text) - SHOWN_MISSING
        click.secho(
            f"{len(summary.missing_text)} left out: chunk text not found ({shown}"
            f"{f', and {more} more' if more > 0 else ''}); the source documents changed, were "
            "chunked with other settings, or are not in --corpus",
            fg="yellow",
        )


@click.command("export-training-data")
@click.option("--ontology", required=True,
              help="A registered model (its pipeline records), a `kg ingest` graph, or a records "
                   ".jsonl file.")  # fmt: skip
@click.option("--min-quality", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Keep extractions scoring at least this.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice([f.value for f in TrainingFormat]),
              default=TrainingFormat.JSONL.value, show_default=True,
              help="jsonl: prompt/completion; messages: chat turns; chatml: text.")  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("training_data.jsonl"), show_default=True)  # fmt: skip
@click.option("--score", type=click.Choice([s.value for s in QualityScore]),
              default=QualityScore.GROUNDED.value, show_default=True,
              help="grounded: quotes, relationships and concepts checked against the chunk; "
                   "reference: concept F1 against curated references.")  # fmt: skip
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path),
              default=CORPUS_DIR.get(), show_default=True,
              help="Where the pipeline's documents are (to find the chunk texts).")  # fmt: skip
@click.option("--vocabulary", help="The vocabulary file, when the records used an unpackaged one.")
def export_training_data_command(
    ontology: str,
    min_quality: float,
    fmt: str,
    output: Path,
    score: str,
    corpus: Path,
    vocabulary: str | None,
) -> None:
    """Write {"prompt", "completion"} pairs (the real prompt, the extraction) for the
    extractions whose quality score meets --min-quality (docs/FINE_TUNING.md)."""
    records_path, source = _records_and_source(ontology, corpus)
    try:
        given = resolve_vocabulary(vocabulary) if vocabulary else None
        records = load_records(records_path)
        vocabularies = record_vocabularies(records, given)
    except (TrainingExportError, VocabularyError, OSError) as exc:
        fail(str(exc))
    for problem in source.problems:
        click.secho(f"warning: {problem}", fg="yellow", err=True)
    quality = QualityScore(score)
    examples, summary = build_training_examples(
        records, source, vocabularies, min_quality, TrainingFormat(fmt), quality
    )
    _report(summary, min_quality, quality)
    if not examples:
        fail(
            f"no extraction of {records_path} scores {min_quality:g} or more; lower "
            "--min-quality, or extract with a stronger model first"
        )
    write_examples(output, examples)
    click.secho(f"wrote {len(examples)} examples ({fmt}) to {output}", fg="green")
