"""`kg admin store …`: the configuration store itself (registered models, routing rules, the
response cache), as opposed to what is in it.

A store that exists but is empty or damaged is never rebuilt behind the user's back (see
``kg_pipeline.store.database.check_sqlite_file``); `reset` is the deliberate way to start anew,
and it keeps the old file beside the new one rather than deleting it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import sqlalchemy as sa

from kg_pipeline.cli.common import fail
from kg_pipeline.store.database import create_engine, database_url, sqlite_file

# SQLite keeps uncommitted or not yet checkpointed pages beside the database; they belong to it.
_COMPANIONS = ("-wal", "-shm", "-journal")


@click.group("store")
def store() -> None:
    """The configuration store: registered models, routing rules, the response cache."""


@store.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def reset_command(yes: bool) -> None:
    """Start a new, empty store; the old SQLite file is kept beside it, renamed.

    For a store that is empty or damaged (restore it from a backup if you have one), or to drop
    every registration and cached answer on purpose. A PostgreSQL store is not reset here.
    """
    url = database_url()
    path = sqlite_file(url)
    if path is None:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        fail(
            f"the store at {shown} is not a SQLite file, so there is nothing to move aside; "
            "reset a database server with its own tools (drop and re-create the database), "
            "and the tables are created on first use"
        )
    if not path.exists():
        fail(f"there is no store at {path} yet; it is created when first used")
    kept = path.with_name(f"{path.name}.{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.bak")
    if not yes:
        click.confirm(
            f"Start a new, empty store at {path}? Every registered model, routing rule and "
            f"cached answer in it is left behind (the file is kept as {kept.name})",
            abort=True,
            err=True,
        )
    # Companions first: a journal left behind would be replayed into the new database.
    moved = [
        _move(companion, kept.with_name(kept.name + suffix))
        for suffix in _COMPANIONS
        if (companion := path.with_name(path.name + suffix)).exists()
    ]
    moved.append(_move(path, kept))
    create_engine(url).dispose()
    click.secho(f"✓ new, empty store at {path}", fg="green", err=True)
    click.echo(f"kept the old store as {', '.join(str(m) for m in moved)}", err=True)
    click.echo(
        "next: register a model, e.g. `kg admin extraction set --provider ollama --model "
        "NAME` (the embedded model is registered on first use)",
        err=True,
    )


def _move(source: Path, target: Path) -> Path:
    try:
        source.rename(target)
    except OSError as exc:
        fail(f"cannot move {source} aside to {target}: {exc}; the store was not reset")
    return target
