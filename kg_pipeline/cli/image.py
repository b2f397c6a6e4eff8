"""`kg ingest image`: describe images with a vision model, extract a graph from each description.

Runs `ingest_images_job` in this process on the Dagster instance, as `kg ingest` does, so every
run is recorded; the per-image lines are printed as each image finishes, not after the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from kg_pipeline.cli.common import fail, open_store
from kg_pipeline.cli.run import execute_job
from kg_pipeline.defs.assets.image_ingest import (
    ingest_images_job,
    progress_log,
    resolve_vision_model,
)
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.store.config import ConfigError


class _EchoHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        warning = record.levelno >= logging.WARNING
        click.secho(record.getMessage(), fg="yellow" if warning else None, err=True)


@contextmanager
def _printing_progress() -> Iterator[None]:
    handler = _EchoHandler(logging.INFO)
    level = progress_log.level
    progress_log.addHandler(handler)
    progress_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        progress_log.removeHandler(handler)
        progress_log.setLevel(level)


def _run(run_config: dict[str, Any]) -> None:
    """The image job, run as every `kg` command runs one (recovery, tags, the step's reason on
    failure); it is not in Definitions, so its resources are given here."""
    with _printing_progress():
        execute_job(ingest_images_job, run_config, resources={"model_registry": ModelRegistry()})


@click.command("image")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the knowledge graph (JSON).")  # fmt: skip
@click.option("--vision-model", help="A registered model marked --supports-vision "
              "(default: the first one registered).")  # fmt: skip
@click.option("--text-model", help="A registered model to extract with (default: the active one).")
@click.option("--fallback-vision-model", help="A registered (cloud) model that describes an "
              "image when the vision model fails.")  # fmt: skip
@click.option("--vocabulary", help="base31 (default), kg60, kg90 or a vocabulary file.")
@click.option("--no-cache", is_flag=True, help="Call the text model even for text seen before.")
def ingest_image_command(
    files: tuple[Path, ...],
    output: Path,
    vision_model: str | None,
    text_model: str | None,
    fallback_vision_model: str | None,
    vocabulary: str | None,
    no_cache: bool,
) -> None:
    """Describe each image in FILES (PNG, JPEG, GIF, WebP) with a vision model and extract
    concepts from the description with the text model, into one graph per image
    (ONTOLOGY = --output). An image that cannot be used is named with the reason; the others
    go on."""
    store = open_store()
    try:
        vision = resolve_vision_model(store, vision_model)
        text = store.get(text_model) if text_model else store.active()
    except ConfigError as exc:
        fail(str(exc))
    click.echo(
        f"describing {len(files)} image(s) with {vision.model_name} ({vision.name}), "
        f"extracting with {text.model_name} ({text.name})",
        err=True,
    )
    config = {
        "files": [str(f) for f in files],
        "output": str(output),
        "vision_model": vision.name,
        "text_model": text_model,
        "fallback_vision_model": fallback_vision_model,
        "vocabulary": vocabulary,
        "use_cache": not no_cache,
    }
    _run({"ops": {"ingest_images": {"config": config}}})
    click.echo(str(output))
