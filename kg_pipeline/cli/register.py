"""`kg admin extraction set`: register a model, or change a registered one.

A new model's defaults come from the provider registry (kg_pipeline/providers/registry.py): the
server's usual address, the environment variable holding its API key, how its registry name is
derived; the server is then asked whether it serves the model, unless told not to.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
from pydantic import ValidationError

from kg_pipeline.cli.common import dagster_instance, fail, open_store, served_models
from kg_pipeline.contract.messages import PROMPT_VERSION, PROMPT_VERSIONS
from kg_pipeline.defs.registry import sync_partitions
from kg_pipeline.extraction.prompts import PROMPT_SPECS
from kg_pipeline.providers import ProviderError
from kg_pipeline.providers.base import ThinkingMode
from kg_pipeline.providers.registry import PROVIDER_NAMES, provider_spec
from kg_pipeline.serving.local_server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_SLOTS,
    REQUEST_TIMEOUT_SECONDS,
)
from kg_pipeline.store.config import ConfigError, ModelConfig, ModelOptions, parse_config
from kg_pipeline.store.database import PURPOSES

# The server `kg local start` runs: a model registered there gets its slots and its wait.
LOCAL_SERVER_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def check_serves(config: ModelConfig) -> None:
    """Every server of the model answers and serves it — or one line saying what to do."""
    spec = provider_spec(config.provider)
    for settings, _ in config.replica_settings():
        try:
            served = asyncio.run(served_models(settings))
        except ProviderError as exc:
            fail(
                f"{settings.base_url} does not answer ({exc}); {spec.start_hint}, or pass "
                "--skip-check"
            )
        if config.model_name not in served:
            pull = f"; {spec.pull_hint.format(model=config.model_name)}" if spec.pull_hint else ""
            fail(
                f"{settings.base_url} does not serve {config.model_name!r} (it serves: "
                f"{', '.join(served) or 'nothing'}){pull}"
            )


def prompt_versions_help() -> str:
    """The --prompt-version help, made from the prompt registry's summaries: a version is
    described where it is declared, so the help cannot fall behind the registry again (it once
    described v2 to v5 and not v6)."""
    # "v6" for "kg-extract-v6": the choices above the help spell the names out in full.
    versions = "; ".join(
        f"{spec.name.removeprefix('kg-extract-')}: {spec.summary}" for spec in PROMPT_SPECS
    )
    return f"Extraction prompt (default {PROMPT_VERSION}). {versions}."


def _name_for(provider: str, model: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "._:-" else "_" for ch in model).strip("_")
    return provider_spec(provider).registry_name_prefix + cleaned


def _replica(text: str) -> dict[str, Any]:
    url, _, slots = text.partition("=")
    if slots and not slots.isdigit():
        fail(f"--replica {text!r}: SLOTS must be a whole number, e.g. http://gpu1:11434=4")
    return {"base_url": url, "slots": int(slots)} if slots else {"base_url": url}


@click.command("set")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES), help="Server kind.")
@click.option("--model", "model_name", help="Model name as the server knows it.")
@click.option("--name", help="Registry name (partition key); default: from the model name.")
@click.option("--base-url", help="Server root; default: the provider's usual local address.")
@click.option("--purpose", type=click.Choice(PURPOSES), help="extraction (default) or baseline.")
@click.option("--temperature", type=float, help="0-1 (default 0.1).")
@click.option("--top-p", type=float, help="0-1 (default 0.9).")
@click.option(
    "--repeat-penalty",
    type=float,
    help="Penalty on repeated tokens sent to llama.cpp, vLLM and Ollama (default 1.1; 1 = none).",
)
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
    help=prompt_versions_help(),
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
    repeat_penalty: float | None,
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
        default_url = provider_spec(provider).default_base_url
        values = {
            "name": name or _name_for(provider, model_name),
            "provider": provider,
            "model_name": model_name,
            "base_url": default_url or "",
        }
        if default_url is None and not given.get("base_url"):
            fail(f"--base-url is required for provider {provider} (the server's root URL)")
    values |= given
    if existing is None and values["base_url"] == LOCAL_SERVER_URL:
        # The server `kg local start` runs: its slots and its wait, not the generic 4 and 300 s.
        values.setdefault("max_concurrent_requests", DEFAULT_SLOTS)
        timeout_seconds = timeout_seconds or REQUEST_TIMEOUT_SECONDS
    values["active"] = activate or bool(existing and existing.active)
    options = dict(values.get("options") or {})
    key_env = api_key_env or (None if existing else provider_spec(values["provider"]).api_key_env)
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
        "repeat_penalty": repeat_penalty,
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
