"""`kg admin extraction …`: inspect, test and switch the registered models at run time; the
`set` command that registers them is in register.py.

Every command reads and writes the configuration store (`KG_DATABASE_URL`, else the SQLite file
in the state folder); running extractions re-read it at each chunk, so nothing is restarted.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import click

from kg_pipeline.cli.common import fail, open_store, served_models
from kg_pipeline.cli.register import set_command
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import load_corpus
from kg_pipeline.extraction.extract import extract_chunk
from kg_pipeline.providers import ProviderError, create_provider
from kg_pipeline.serving.model_status import endpoint_status, status_lines, switch
from kg_pipeline.store.config import ConfigError, ModelConfig

SAMPLE_TEXT = (
    "PostgreSQL is an open-source relational database. It stores data in tables and supports "
    "transactions. Dagster schedules pipelines that read from PostgreSQL and write reports."
)


@click.group()
def admin() -> None:
    """Administration: the models the pipeline extracts with."""


@admin.group()
def extraction() -> None:
    """Register, inspect, test and switch extraction models (no restart needed)."""


extraction.add_command(set_command)


def _describe(config: ModelConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json", exclude={"options"})
    data["options"] = config.options.model_dump(mode="json", exclude_defaults=True)
    return data


@extraction.command("show")
@click.option("--name", help="A registered model (default: the active one).")
@click.option("--all", "show_all", is_flag=True, help="Every registered model.")
@click.option("--field", help="Print one column's value only (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def show_command(name: str | None, show_all: bool, field: str | None, as_json: bool) -> None:
    """The active (or named) model's configuration."""
    store = open_store()
    try:
        configs = store.list() if show_all else [store.get(name) if name else store.active()]
    except ConfigError as exc:
        fail(str(exc))
    if field:
        data = _describe(configs[0])
        if field not in data:
            fail(f"no field {field!r}; fields: {', '.join(data)}")
        click.echo(data[field])
        return
    if as_json:
        click.echo(json.dumps([_describe(c) for c in configs], indent=2))
        return
    for config in configs:
        marker = click.style("● active", fg="green") if config.active else "○"
        click.echo(f"{marker} {config.name} [{config.purpose}]")
        for key, value in _describe(config).items():
            if key not in ("name", "active", "purpose"):
                shown = json.dumps(value) if isinstance(value, dict) else value
                click.echo(f"    {key}: {shown}")


@extraction.command("models")
@click.option("--name", help="A registered model (default: the active one).")
def models_command(name: str | None) -> None:
    """What the model's server serves."""
    store = open_store()
    try:
        config = store.get(name) if name else store.active()
    except ConfigError as exc:
        fail(str(exc))
    try:
        served = asyncio.run(served_models(config))
    except ProviderError as exc:
        fail(f"{config.base_url} does not answer: {exc}")
    click.echo(f"{config.base_url} ({config.provider}) serves {len(served)} model(s):")
    for model in served:
        mark = click.style(" ← configured", fg="green") if model == config.model_name else ""
        click.echo(f"  {model}{mark}")


def _sample_chunk_text() -> str:
    docs, _ = load_corpus("test_corpus") if Path("test_corpus").is_dir() else ([], [])
    technical = sorted((d for d in docs if d.category == "technical"), key=lambda d: len(d.text))
    if technical:
        return chunk_document(technical[0].document_id, technical[0].text)[0].text
    return SAMPLE_TEXT


@extraction.command("test")
@click.option("--name", help="A registered model (default: the active one).")
@click.option("--text", help="Text to extract (default: a short corpus chunk).")
def test_command(name: str | None, text: str | None) -> None:
    """One real extraction on a sample chunk: timing, token counts, validity."""
    store = open_store()
    try:
        config = store.get(name) if name else store.active()
    except ConfigError as exc:
        fail(str(exc))
    chunk = chunk_document("sample", text or _sample_chunk_text())[0]
    click.echo(f"extracting {len(chunk.text.split())} words with {config.model_name} ...")

    async def run() -> Any:
        provider = create_provider(config.settings())
        try:
            return await extract_chunk(provider, chunk)
        finally:
            await provider.aclose()

    record = asyncio.run(run())
    stats = record.stats
    if stats is not None:
        click.echo(
            f"  {stats.wall_seconds:.1f}s, {stats.prompt_tokens or '?'} prompt tokens, "
            f"{stats.completion_tokens or '?'} output tokens, finish: {stats.finish_reason}"
        )
    if record.extraction is None:
        fail(f"{record.status.value}: {record.error}")
    ext = record.extraction
    click.secho(
        f"✓ valid JSON: {len(ext.concepts)} concepts, {len(ext.instances)} instances, "
        f"{len(ext.relationships)} relationships",
        fg="green",
    )


@extraction.command("status")
@click.option("--name", help="A registered model (default: the active one).")
@click.option("--all", "show_all", is_flag=True, help="Every registered model.")
def status_command(name: str | None, show_all: bool) -> None:
    """What each model's server has loaded, its memory, and the GPU totals where readable.
    Exits 1 when the one model asked about does not answer (not with --all)."""
    store = open_store()
    try:
        configs = store.list() if show_all else [store.get(name) if name else store.active()]
    except ConfigError as exc:
        fail(str(exc))
    for config in configs:
        status = asyncio.run(endpoint_status(config))
        marker = click.style("● active", fg="green") if config.active else "○"
        click.echo(f"{marker} {config.name}: {config.model_name}")
        for line in status_lines(status):
            click.echo(line)
        if not status.answering and not show_all:
            fail(
                f"{config.name}'s server does not answer (see above); start it, or correct its "
                f"URL with `kg admin extraction set --name {config.name} --base-url URL`"
            )


@extraction.command("reload")
@click.option("--model", "name", help="Make this registered model the active one.")
@click.option(
    "--preload/--no-preload",
    default=True,
    show_default=True,
    help="Unload the previous model where the server allows it and load the new one now.",
)
def reload_command(name: str | None, preload: bool) -> None:
    """Switch running and future extractions to the active (or given) model's configuration,
    from their next chunk on."""
    store = open_store()
    started = time.perf_counter()
    previous: ModelConfig | None
    try:
        previous = store.active(store.get(name).purpose if name else "extraction")
    except ConfigError:
        previous = None  # nothing was active (or the name is unknown: activate says so)
    try:
        config = store.activate(name) if name else store.touch(store.active().name)
    except ConfigError as exc:
        fail(str(exc))
    click.secho(
        f"✓ {config.name} ({config.model_name}) is active, version {config.version()} "
        f"({(time.perf_counter() - started) * 1000:.0f} ms); running extractions switch at "
        "their next chunk",
        fg="green",
    )
    if not preload:
        return
    # The store has switched; what follows only saves the first chunk the load, so a failure
    # is a warning.
    report = asyncio.run(switch(previous, config))
    click.echo(f"  {report.summary()}; switch took {report.seconds:.2f} s")
    for step in report.failures:
        click.secho(
            f"warning: could not {step.action} {step.model} on {step.base_url}: {step.detail}",
            fg="yellow",
            err=True,
        )


@extraction.command("remove")
@click.argument("name")
def remove_command(name: str) -> None:
    """Unregister a model (its stored results stay)."""
    store = open_store()
    try:
        config = store.get(name)
    except ConfigError as exc:
        fail(str(exc))
    if config.active:
        fail(f"{name} is active; activate another first (`kg admin extraction reload --model X`)")
    store.remove(name)
    click.echo(f"removed {name}")
