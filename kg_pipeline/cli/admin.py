"""`kg admin extraction …`: register, inspect, test and switch models at run time.

Every command reads and writes the configuration store (`KG_DATABASE_URL`, else the SQLite file
in the state folder); running extractions re-read it at each chunk, so nothing is restarted.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import click
import dagster as dg
from pydantic import ValidationError

from kg_pipeline.cli.common import fail
from kg_pipeline.contract.messages import PROMPT_VERSIONS
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import load_corpus
from kg_pipeline.defs.registry import ensure_registered, sync_partitions
from kg_pipeline.extraction.extract import extract_chunk
from kg_pipeline.providers import ProviderError, create_provider
from kg_pipeline.providers.base import EndpointSettings, ThinkingMode
from kg_pipeline.serving.local_server import DEFAULT_PORT, DEFAULT_SLOTS, REQUEST_TIMEOUT_SECONDS
from kg_pipeline.serving.model_status import endpoint_status, status_lines, switch
from kg_pipeline.store.config import (
    ConfigError,
    ConfigStore,
    ModelConfig,
    ModelOptions,
    parse_config,
)
from kg_pipeline.store.database import PROVIDERS, PURPOSES, database_url

# Where each kind of server listens unless told otherwise.
DEFAULT_BASE_URLS = {
    "ollama": "http://127.0.0.1:11434",
    "vllm": "http://127.0.0.1:8000",
    "llamacpp": f"http://127.0.0.1:{DEFAULT_PORT}",
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
}
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

SAMPLE_TEXT = (
    "PostgreSQL is an open-source relational database. It stores data in tables and supports "
    "transactions. Dagster schedules pipelines that read from PostgreSQL and write reports."
)


def dagster_instance() -> dg.DagsterInstance | None:
    """The instance named by DAGSTER_HOME, or the project's own ``dagster_home`` when run from
    a checkout; None when there is neither (partitions are then added by the sensor)."""
    if not os.environ.get("DAGSTER_HOME"):
        project = Path("dagster_home")
        if not (project / "dagster.yaml").is_file():
            return None
        os.environ["DAGSTER_HOME"] = str(project.resolve())
    return dg.DagsterInstance.get()


def open_store() -> ConfigStore:
    try:
        store = ConfigStore()
        ensure_registered(store)
    except Exception as exc:  # a database that cannot be reached: say which, and stop
        fail(f"cannot open the configuration store at {_safe_url()}: {exc}")
    return store


def _safe_url() -> str:
    url = database_url()
    if "@" in url:  # user:password@host — the password is not for terminals or logs
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


async def served_models(config: ModelConfig | EndpointSettings) -> list[str]:
    settings = config.settings() if isinstance(config, ModelConfig) else config
    provider = create_provider(settings)
    try:
        return await provider.list_models()
    finally:
        await provider.aclose()


def check_serves(config: ModelConfig) -> None:
    """Every server of the model answers and serves it — or one line saying what to do."""
    for settings, _ in config.replica_settings():
        try:
            served = asyncio.run(served_models(settings))
        except ProviderError as exc:
            hint = {
                "ollama": "start it with scripts/start-ollama.sh or `ollama serve`",
                "llamacpp": "start the embedded model with `kg local start`",
            }.get(config.provider, "start the server or correct the URL")
            fail(f"{settings.base_url} does not answer ({exc}); {hint}, or pass --skip-check")
        if config.model_name not in served:
            pull = (
                f"; pull it with `ollama pull {config.model_name}`"
                if config.provider == "ollama"
                else ""
            )
            fail(
                f"{settings.base_url} does not serve {config.model_name!r} (it serves: "
                f"{', '.join(served) or 'nothing'}){pull}"
            )


@click.group()
def admin() -> None:
    """Administration: the models the pipeline extracts with."""


@admin.group()
def extraction() -> None:
    """Register, inspect, test and switch extraction models (no restart needed)."""


def _name_for(provider: str, model: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "._:-" else "_" for ch in model).strip("_")
    return cleaned if provider != "llamacpp" else f"local-{cleaned}"


def _replica(text: str) -> dict[str, Any]:
    url, _, slots = text.partition("=")
    if slots and not slots.isdigit():
        fail(f"--replica {text!r}: SLOTS must be a whole number, e.g. http://gpu1:11434=4")
    return {"base_url": url, "slots": int(slots)} if slots else {"base_url": url}


@extraction.command("set")
@click.option("--provider", type=click.Choice(PROVIDERS), help="Server kind.")
@click.option("--model", "model_name", help="Model name as the server knows it.")
@click.option("--name", help="Registry name (partition key); default: from the model name.")
@click.option("--base-url", help="Server root; default: the provider's usual local address.")
@click.option("--purpose", type=click.Choice(PURPOSES), help="extraction (default) or baseline.")
@click.option("--temperature", type=float, help="0-1 (default 0.1).")
@click.option("--top-p", type=float, help="0-1 (default 0.9).")
@click.option("--max-tokens", type=int, help="Output budget (default: by thinking mode).")
@click.option("--thinking-mode", type=click.Choice([m.value for m in ThinkingMode]))
@click.option("--gpu-layers", type=int, help="Ollama num_gpu; -1 = as many as fit.")
@click.option("--num-threads", type=int, help="Ollama num_thread.")
@click.option("--max-concurrent-requests", type=int, help="Calls in flight (1-100, default 4).")
@click.option("--max-retries", type=int, help="Retries per call (0-20, default 3).")
@click.option("--supports-vision/--no-supports-vision", default=None)
@click.option("--supports-json-mode/--no-supports-json-mode", default=None)
@click.option("--api-key-env", help="Environment variable holding the API key.")
@click.option("--keep-alive", help="How long Ollama keeps the model loaded (e.g. 10m).")
@click.option("--timeout", "timeout_seconds", type=float, help="Read timeout in seconds.")
@click.option("--local-timeout", "local_timeout_seconds", type=float,
              help="Seconds a chunk may spend on this model, retries included, before its "
              "fallback is asked (default 300).")  # fmt: skip
@click.option("--outage-budget", "outage_budget_seconds", type=float,
              help="Seconds a run waits, in all, for this server to come back before failing "
              "the chunks still waiting (default 300).")  # fmt: skip
@click.option("--cooldown", "cooldown_seconds", type=float,
              help="Pause after repeated connection failures before the server is tried again "
              "(default 5).")  # fmt: skip
@click.option(
    "--replica",
    "replicas",
    multiple=True,
    metavar="URL[=SLOTS]",
    help="Another server of the same model (repeat; replaces the list). Chunks go to the least "
    "busy server.",
)
@click.option(
    "--prompt-version",
    type=click.Choice(PROMPT_VERSIONS),
    help="Extraction prompt (kg-extract-v2, -v4 and -v5: for small models, v4 and v5 naming "
    "concepts by label, v5 with a shorter prompt; kg-extract-v3: experimental).",
)
@click.option(
    "--ground-quotes/--no-ground-quotes",
    default=None,
    help="Replace quotes by the source text they match; drop what is not in the text (on).",
)
@click.option("--gleaning", type=int, help="Extra passes asking for what was missed (0-3, 0).")
@click.option("--activate/--no-activate", default=True, show_default=True)
@click.option("--skip-check", is_flag=True, help="Store without asking the server.")
def set_command(
    provider: str | None,
    model_name: str | None,
    name: str | None,
    skip_check: bool,
    activate: bool,
    api_key_env: str | None,
    keep_alive: str | None,
    timeout_seconds: float | None,
    local_timeout_seconds: float | None,
    outage_budget_seconds: float | None,
    cooldown_seconds: float | None,
    replicas: tuple[str, ...],
    prompt_version: str | None,
    ground_quotes: bool | None,
    gleaning: int | None,
    **columns: Any,
) -> None:
    """Register a model, or change a registered one (only the options given change)."""
    store = open_store()
    existing = store.find(name) if name else None
    if existing is None and not name and model_name and provider:
        existing = store.find(_name_for(provider, model_name))
    if existing is None and not (provider and model_name):
        fail(
            "a new model needs --provider and --model (e.g. --provider ollama --model "
            "mistral:7b-instruct)"
        )
    given = {k: v for k, v in columns.items() if v is not None}
    if existing is not None:
        values: dict[str, Any] = existing.model_dump(
            exclude={"id", "created_at", "updated_at", "updated_by"}
        )
        values |= {k: v for k, v in (("provider", provider), ("model_name", model_name)) if v}
    else:
        assert provider and model_name
        values = {
            "name": name or _name_for(provider, model_name),
            "provider": provider,
            "model_name": model_name,
            "base_url": DEFAULT_BASE_URLS.get(provider, ""),
        }
        if provider == "openai_compatible" and not given.get("base_url"):
            fail("--base-url is required for provider openai_compatible (the server's root URL)")
    values |= given
    if existing is None and values["base_url"] == DEFAULT_BASE_URLS["llamacpp"]:
        # The server `kg local start` runs: its slots and its wait, not the generic 4 and 300 s.
        values.setdefault("max_concurrent_requests", DEFAULT_SLOTS)
        timeout_seconds = timeout_seconds or REQUEST_TIMEOUT_SECONDS
    values["active"] = activate or bool(existing and existing.active)
    options = dict(values.get("options") or {})
    key_env = api_key_env or (None if existing else DEFAULT_KEY_ENV.get(values["provider"]))
    extra = {
        "api_key_env": key_env,
        "keep_alive": keep_alive,
        "timeout_seconds": timeout_seconds,
        "local_timeout_seconds": local_timeout_seconds,
        "outage_budget_seconds": outage_budget_seconds,
        "cooldown_seconds": cooldown_seconds,
        "prompt_version": prompt_version,
        "ground_quotes": ground_quotes,
        "gleaning": gleaning,
    }
    options |= {k: v for k, v in extra.items() if v is not None}
    if replicas:
        options["replicas"] = [_replica(text) for text in replicas]
    try:
        values["options"] = ModelOptions.model_validate(options).model_dump()
    except ValidationError as exc:
        fail(f"invalid option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    try:
        config = parse_config(values)
    except ConfigError as exc:
        fail(str(exc))
    if not skip_check:
        check_serves(config)
    saved = store.save(config)
    added: list[str] = []
    instance = dagster_instance()
    if instance is not None:
        added = sync_partitions(instance, [c.name for c in store.list()])
    verb = "updated" if existing else "registered"
    click.secho(
        f"✓ {verb} {saved.name}: {saved.model_name} ({saved.provider}) at {saved.base_url}"
        + (" — active" if saved.active else ""),
        fg="green",
    )
    if added:
        click.echo(f"  added Dagster partition(s): {', '.join(added)}")
    click.echo("next:")
    click.echo("  kg admin extraction test        # one real extraction, timed")
    click.echo("  kg ingest FILE... -o graph.json # extract your files with the active model")
    click.echo(f"  kg run --model {saved.name}     # the quality benchmark for this model")


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
