"""`kg admin routing …`: the rules that send each chunk to a model, and why a file's chunks
would go where they go.

The rules live in the project database next to the model registry (`KG_DATABASE_URL`, else the
SQLite file in the state folder); an empty table is seeded with the default rules first, so what
`list` shows is what a routed run uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from kg_pipeline.cli.common import fail
from kg_pipeline.corpus.analysis import ChunkAnalysis, analyse
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.defs.registry import ensure_registered
from kg_pipeline.extraction.routing import RoutingDecision, choose, resolve
from kg_pipeline.providers.registry import PROVIDER_NAMES
from kg_pipeline.store.config import ConfigError, ConfigStore
from kg_pipeline.store.database import database_url
from kg_pipeline.store.routing import RoutingStore, parse_rule
from kg_pipeline.store.routing_conditions import RoutingError


def open_stores() -> tuple[ConfigStore, RoutingStore]:
    try:
        config = ConfigStore()
        ensure_registered(config)
        rules = RoutingStore(config.engine)
        rules.ensure_defaults()
    except Exception as exc:  # a database that cannot be reached: say which, and stop
        url = database_url()
        shown = url.split("://", 1)[0] + "://***@" + url.split("@", 1)[1] if "@" in url else url
        fail(f"cannot open the routing rules at {shown}: {exc}")
    return config, rules


@click.group("routing")
def routing() -> None:
    """Multi-model routing: rules over each chunk's analysis choose its model."""


@routing.command("list")
def list_command() -> None:
    """The rules in evaluation order (lower priority first) and where each one sends chunks."""
    config, store = open_stores()
    registered = config.list()
    for rule in store.list():
        state = click.style("active", fg="green") if rule.active else "inactive"
        model = resolve(rule, registered)
        target = (
            f"{rule.target} → {model.name}"
            if model
            else click.style(f"{rule.target} (not registered: skipped)", fg="yellow")
        )
        click.echo(f"{rule.priority:>6}  {rule.rule_name}  [{state}]  if {rule.condition}")
        click.echo(f"        → {target}")


@routing.command("add")
@click.option("--name", "rule_name", required=True, help="Rule name (unique).")
@click.option("--condition", required=True, help='E.g. complexity == "complex".')
@click.option(
    "--provider", required=True, type=click.Choice(PROVIDER_NAMES), help="Target server kind."
)
@click.option("--model", "target_model", required=True, help="Target model name.")
@click.option("--priority", type=int, default=100, show_default=True, help="Lower runs first.")
@click.option("--inactive", is_flag=True, help="Store the rule switched off.")
def add_command(
    rule_name: str,
    condition: str,
    provider: str,
    target_model: str,
    priority: int,
    inactive: bool,
) -> None:
    """Add a rule, or replace the rule of that name."""
    config, store = open_stores()
    try:
        rule = parse_rule(
            {
                "rule_name": rule_name,
                "condition": condition,
                "target_provider": provider,
                "target_model": target_model,
                "priority": priority,
                "active": not inactive,
            }
        )
    except RoutingError as exc:
        fail(str(exc))
    existed = store.find(rule_name) is not None
    store.save(rule)
    click.echo(f"{'updated' if existed else 'added'} {rule.rule_name} (priority {rule.priority})")
    if resolve(rule, config.list()) is None:
        click.secho(
            f"warning: no registered extraction model is {rule.target}; the rule is skipped "
            "until one is (`kg admin extraction set --provider … --model …`)",
            fg="yellow",
        )


@routing.command("remove")
@click.argument("name")
def remove_command(name: str) -> None:
    """Remove a rule (to pause one, add it again with --inactive)."""
    _, store = open_stores()
    try:
        store.remove(name)
    except RoutingError as exc:
        fail(str(exc))
    click.echo(f"removed {name}")


def _describe(analysis: ChunkAnalysis) -> str:
    a = analysis
    return (
        f"{a.word_count} words, {a.sentence_count} sentences (avg {a.avg_sentence_length:g}), "
        f"technical {a.technical_term_density:.1%}, code {a.code_lines}/{a.line_count} lines in "
        f"{a.code_blocks} block(s), {a.formulas} formula(s), {a.tables} table(s) "
        f"→ {a.complexity} {a.content_type}"
    )


def _verdict(decision: RoutingDecision) -> str:
    target = f"{decision.registered_name} ({decision.target_provider} {decision.target_model})"
    how = f"rule {decision.rule_name}" if decision.rule_name else "the default model"
    why = f" [{decision.fallback_reason}]" if decision.fallback_reason else ""
    return f"{target} by {how}{why}"


@routing.command("explain")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The decisions as JSON.")
def explain_command(file: Path, as_json: bool) -> None:
    """Chunk FILE as a run would, and show each chunk's analysis and the model it goes to."""
    config, store = open_stores()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    try:
        default = config.active()
    except ConfigError as exc:
        fail(str(exc))
    rules, registered = store.active(), config.list()
    chunks = chunk_document(file.stem, text)
    decisions = [choose(analyse(c.text), rules, registered, default) for c in chunks]
    if as_json:
        click.echo(json.dumps([d.model_dump(mode="json") for d in decisions], indent=2))
        return
    for chunk, decision in zip(chunks, decisions, strict=True):
        click.echo(f"{chunk.chunk_id}:")
        click.echo(f"    {_describe(decision.analysis)}")
        click.echo(f"    → {_verdict(decision)}")
