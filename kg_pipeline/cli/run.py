"""`kg ingest`, `kg run`, `kg ui`: the pipeline's jobs and its UI from a shell.

Jobs run in this process on the Dagster instance (DAGSTER_HOME, else the project's
``dagster_home``), so each run is recorded and shows in the UI like one launched there. Each run
carries this process's identity in its tags; before it starts, runs whose process is gone are
marked failed and their slots freed (kg_pipeline/defs/run_recovery.py), and the run takes its step
pools' slots itself, waiting where Ctrl-C works (kg_pipeline/defs/step_slots.py).
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import dagster as dg

from kg_pipeline.cli.common import dagster_instance, fail, open_store
from kg_pipeline.contract.messages import PROMPT_VERSIONS
from kg_pipeline.contract.vocabulary import VocabularyError, resolve_vocabulary
from kg_pipeline.corpus.documents import corpus_vocabulary_file
from kg_pipeline.defs.registry import sync_partitions
from kg_pipeline.defs.run_recovery import ProcessIdentity, recover_dead_runs
from kg_pipeline.defs.step_slots import WaitStopped, step_slots_held
from kg_pipeline.settings import CORPUS_DIR
from kg_pipeline.store.config import ConfigError, ModelConfig

# What a run's waiting and recovery say before Dagster's own log takes over.
_SAID_HERE = (
    "kg_pipeline.defs.run_recovery",
    "kg_pipeline.defs.step_slots",
    "kg_pipeline.defs.pools",
)
INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


def _instance() -> dg.DagsterInstance:
    instance = dagster_instance()
    if instance is None:
        click.secho(
            "note: DAGSTER_HOME is not set and there is no ./dagster_home; this run is not "
            "recorded (set DAGSTER_HOME to keep runs)",
            fg="yellow",
            err=True,
        )
        return dg.DagsterInstance.ephemeral()
    return instance


class _Echo(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        warning = record.levelno >= logging.WARNING
        click.secho(record.getMessage(), fg="yellow" if warning else None, err=True)


@contextmanager
def _saying_at_info() -> Iterator[None]:
    """INFO from recovery and slot waits on stderr, as the run's own log lines are."""
    handler = _Echo(logging.INFO)
    loggers = [logging.getLogger(name) for name in _SAID_HERE]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.removeHandler(handler)
            log.setLevel(level)


def execute_named_job(
    job_name: str, run_config: dict[str, Any], partition: str | None = None
) -> None:
    """Run the Definitions' job ``job_name`` as `kg` runs every job (see ``execute_job``); with
    a partition, the registered models are made partitions first."""
    # Not a circle: loading every asset costs seconds, which only the commands that run a job pay.
    from kg_pipeline.definitions import defs

    instance = _instance()
    if partition is not None:
        sync_partitions(instance, [c.name for c in open_store().list()])
    execute_job(defs.get_job_def(job_name), run_config, instance, partition)


def execute_job(
    job: dg.JobDefinition,
    run_config: dict[str, Any],
    instance: dg.DagsterInstance | None = None,
    partition: str | None = None,
    resources: dict[str, Any] | None = None,
) -> None:
    """Run ``job`` in this process as every `kg` command does: dead runs recovered first, this
    process's identity in the run's tags, step pools claimed where Ctrl-C works; exits non-zero
    with the failed step's own reason. ``resources``: for a job that is not in Definitions."""
    instance = instance or _instance()
    process = ProcessIdentity.current()
    run_id = str(uuid.uuid4())
    with _saying_at_info():
        for recovery in recover_dead_runs(instance, by=f"`kg` ({process})"):
            logging.getLogger("kg_pipeline.defs.run_recovery").warning(str(recovery))
        try:
            with step_slots_held(instance, job, run_id, process):
                result = job.execute_in_process(
                    run_config=run_config,
                    instance=instance,
                    partition_key=partition,
                    raise_on_error=False,
                    run_id=run_id,
                    tags=process.tags(),
                    resources=resources,
                )
        except WaitStopped as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(INTERRUPTED)
    if not result.success:
        failures = [_failure_reason(e) for e in result.all_events if e.is_step_failure]
        reasons = [f for f in failures if f]
        fail(f"run {result.run_id} failed: {reasons[-1] if reasons else 'see the run logs'}")
    click.secho(f"✓ run {result.run_id} succeeded", fg="green", err=True)


def _failure_reason(event: dg.DagsterEvent) -> str | None:
    """What the step said went wrong (a ``dg.Failure``'s description: "3 of 20 chunks
    unavailable: ..."), else its error, else Dagster's generic "Execution of step ... failed"."""
    data = event.step_failure_data
    if data is not None:
        user = data.user_failure_data
        if user is not None and user.description:
            return user.description
        if data.error is not None and data.error.message:
            return data.error.message.strip()
    return event.message


class _TextUnlessNamed(click.Group):
    """`kg ingest FILE…` extracts text files (the `text` subcommand); `kg ingest image …` and
    other subcommands are named."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["text", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_TextUnlessNamed)
def ingest() -> None:
    """Extract your files into one knowledge graph: `kg ingest FILE… -o GRAPH` for text."""


@ingest.command("text")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the knowledge graph (JSON).")  # fmt: skip
@click.option("--model", "name", help="A registered model (default: the active one).")
@click.option("--vocabulary", help="base31 (default), kg60, kg90 or a vocabulary file.")
@click.option("--no-cache", is_flag=True, help="Call the model even for chunks seen before.")
@click.option("--routed", is_flag=True, help="Route each chunk by the rules (`kg admin routing`).")
def ingest_text(
    files: tuple[Path, ...],
    output: Path,
    name: str | None,
    vocabulary: str | None,
    no_cache: bool,
    routed: bool,
) -> None:
    """Extract FILES with the active model into one knowledge graph (ONTOLOGY = --output).

    A model switched with `kg admin extraction reload` while this runs takes over at the next
    chunk (with --model, that model's own changes do); the graph records which model extracted
    each document.
    """
    store = open_store()
    try:
        config_row = store.get(name) if name else store.active()
    except ConfigError as exc:
        fail(str(exc))
    click.echo(
        f"ingesting {len(files)} file(s) with {config_row.model_name} ({config_row.name})", err=True
    )
    config = {
        "files": [str(f) for f in files],
        "output": str(output),
        "model": name,
        "routed": routed,
        "vocabulary": vocabulary,
        "use_cache": not no_cache,
    }
    execute_named_job("ingest_job", {"ops": {"ingest_files": {"config": config}}})
    click.echo(str(output))


# The ops that read the run's vocabulary: what is extracted, a recorded baseline, and the
# report's count of off-vocabulary types. One choice sets all three, so they cannot disagree.
VOCABULARY_OPS = ("extractions", "baseline", "quality_report")


def run_vocabulary(given: str | None, corpus_dir: str | Path) -> str | None:
    """The vocabulary a run on ``corpus_dir`` extracts with: the one given, else the corpus's
    own vocabulary.json (an imported data set's relation types), else None, the assets' own
    default (base31). One that does not resolve stops the command before the run starts."""
    found = corpus_vocabulary_file(corpus_dir)
    spec = given or (str(found) if found is not None else None)
    if spec is None:
        return None
    try:
        vocabulary = resolve_vocabulary(spec)
    except VocabularyError as exc:
        fail(str(exc))
    source = "" if given else f" (the corpus's {found})"
    click.echo(f"vocabulary: {vocabulary.name}, {len(vocabulary)} relation types{source}", err=True)
    return spec


def registered_model(name: str | None) -> ModelConfig:
    """The registered model ``name``, else the active one; an unknown name ends the command
    with the store's own message."""
    store = open_store()
    try:
        return store.get(name) if name else store.active()
    except ConfigError as exc:
        fail(str(exc))


def main_job_ops(
    corpus: str | Path | None,
    vocabulary: str | None,
    *,
    sample: int | None = None,
    max_chunks: int | None = None,
    routed: bool = False,
    prompt_version: str | None = None,
) -> dict[str, Any]:
    """The main job's op config as `kg run` builds it: the corpus, the vocabulary (given, else
    the corpus's own, set alike on every op that reads it), the sample, the chunk cap and a
    prompt version for this run (else the model's own)."""
    chosen = run_vocabulary(vocabulary, corpus or CORPUS_DIR.get())
    documents: dict[str, Any] = {}
    if sample:
        documents["sample_per_category"] = sample
    if corpus:
        documents["corpus_dir"] = str(corpus)
    ops: dict[str, Any] = {"documents": {"config": documents}}
    extraction: dict[str, Any] = {"routed": routed}
    if max_chunks:
        extraction["max_chunks"] = max_chunks
    if prompt_version:
        extraction["prompt_version"] = prompt_version
    ops["extractions"] = {"config": extraction}
    if chosen is not None:
        for op in VOCABULARY_OPS:
            ops.setdefault(op, {"config": {}})["config"]["vocabulary"] = chosen
    return ops


def run_main_job(config: ModelConfig, ops: dict[str, Any]) -> None:
    """extraction_job for ``config``'s partition; exits non-zero when the run fails."""
    click.echo(f"running extraction_job for {config.name} ({config.model_name})", err=True)
    execute_named_job("extraction_job", {"ops": ops}, partition=config.name)


@click.command()
@click.option("--model", "name", help="Registered model to benchmark (default: the active one).")
@click.option("--sample", type=click.IntRange(min=1),
              help="Only the N shortest documents per category (a quick run).")  # fmt: skip
@click.option("--max-chunks", type=click.IntRange(min=1), help="Extract at most N chunks.")
@click.option("--corpus", help="Corpus folder (default: test_corpus).")
@click.option("--vocabulary",
              help="base31, kg60, kg90, redocred or a vocabulary file (default: the corpus's "
              "vocabulary.json if it has one, else base31).")  # fmt: skip
@click.option("--routed", is_flag=True, help="Route each chunk by the rules (`kg admin routing`).")
@click.option("--prompt-version", type=click.Choice(PROMPT_VERSIONS),
              help="This run's prompt version instead of the model's own.")  # fmt: skip
def run(
    name: str | None,
    sample: int | None,
    max_chunks: int | None,
    corpus: str | None,
    vocabulary: str | None,
    routed: bool,
    prompt_version: str | None,
) -> None:
    """The main job: documents -> chunks -> extractions -> quality_report for one model."""
    config = registered_model(name)
    ops = main_job_ops(
        corpus,
        vocabulary,
        sample=sample,
        max_chunks=max_chunks,
        routed=routed,
        prompt_version=prompt_version,
    )
    run_main_job(config, ops)


@click.command()
@click.option("--port", default=3000, show_default=True, help="Port on 127.0.0.1.")
def ui(port: int) -> None:
    """The Dagster UI and daemon (schedules, sensors), bound to 127.0.0.1."""
    if dagster_instance() is None:
        fail("set DAGSTER_HOME (or run from the project folder, which has dagster_home/)")
    open_store()  # seed the registry so the sensor finds the models at once
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-m", "kg_pipeline.definitions", "-h", "127.0.0.1"]
    click.echo(f"Dagster UI at http://127.0.0.1:{port} (Ctrl-C stops it)")
    os.execv(command[0], [*command, "-p", str(port)])
