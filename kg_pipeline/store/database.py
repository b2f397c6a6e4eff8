"""Engine and tables (SQLAlchemy Core), kept current by alembic migrations.

The default is a SQLite file in the project's state folder, so a fresh checkout needs no server;
``KG_DATABASE_URL`` points it elsewhere (``postgresql+psycopg2://…`` in production). The tables
below are the one definition the migrations in ``migrations/versions`` build, step by step.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from kg_pipeline.errors import KgError
from kg_pipeline.providers.registry import PROVIDER_NAMES
from kg_pipeline.settings import DATABASE_URL, STATE_DIR

MIGRATIONS = Path(__file__).parent / "migrations"

metadata = sa.MetaData()

response_cache = sa.Table(
    "response_cache",
    metadata,
    # sha256 of what determines the answer (see kg_pipeline/middleware/cached.py), not of the
    # transport.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("provider_kind", sa.String(32), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("prompt_version", sa.String(64), nullable=False),
    sa.Column("extraction_json", sa.Text, nullable=False),
    sa.Column("stats_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

THINKING_MODES = ("off", "low", "medium", "high")
PURPOSES = ("extraction", "baseline")


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=f"ck_{column}")


# The provider names a row may give: the provider registry's (kg_pipeline/providers/registry.py),
# one per row, added by ``migrate`` whenever the registry has a name the table lacks. The foreign
# keys to it refuse any other name, from any writer, as a CHECK constraint would; unlike a CHECK,
# a provider added to the registry needs no migration.
providers = sa.Table(
    "providers",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
)


def _known_provider(table: str, column: str) -> sa.ForeignKey:
    return sa.ForeignKey(providers.c.name, name=f"fk_{table}_{column}")


# Column-compatible with the configuration table of the system this pipeline replaces, plus
# `name` (the model's partition key), `purpose` and `options` (settings that table lacked:
# timeouts, keep_alive, the API key's environment variable — never the key itself).
ai_extraction_config = sa.Table(
    "ai_extraction_config",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("purpose", sa.String(32), nullable=False, server_default="extraction"),
    sa.Column(
        "provider",
        sa.String(32),
        _known_provider("ai_extraction_config", "provider"),
        nullable=False,
    ),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("base_url", sa.String(500), nullable=False),
    sa.Column("supports_vision", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("supports_json_mode", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("max_tokens", sa.Integer, nullable=True),
    sa.Column("temperature", sa.Float, nullable=False, server_default="0.1"),
    sa.Column("top_p", sa.Float, nullable=False, server_default="0.9"),
    sa.Column("gpu_layers", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("num_threads", sa.Integer, nullable=True),
    sa.Column("thinking_mode", sa.String(8), nullable=False, server_default="off"),
    sa.Column("max_concurrent_requests", sa.Integer, nullable=False, server_default="4"),
    sa.Column("max_retries", sa.Integer, nullable=False, server_default="3"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("options", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    _one_of("thinking_mode", THINKING_MODES),
    _one_of("purpose", PURPOSES),
    sa.CheckConstraint("temperature >= 0 AND temperature <= 1", name="ck_temperature"),
    sa.CheckConstraint("top_p >= 0 AND top_p <= 1", name="ck_top_p"),
    sa.CheckConstraint("gpu_layers >= -1", name="ck_gpu_layers"),
    sa.CheckConstraint("num_threads IS NULL OR num_threads >= 1", name="ck_num_threads"),
    sa.CheckConstraint("max_tokens IS NULL OR max_tokens >= 1", name="ck_max_tokens"),
    sa.CheckConstraint(
        "max_concurrent_requests >= 1 AND max_concurrent_requests <= 100",
        name="ck_max_concurrent_requests",
    ),
    sa.CheckConstraint("max_retries >= 0 AND max_retries <= 20", name="ck_max_retries"),
)

# One active row per purpose, enforced by the database rather than by care in the code.
one_active_per_purpose = sa.Index(
    "uq_one_active_per_purpose",
    ai_extraction_config.c.purpose,
    unique=True,
    sqlite_where=ai_extraction_config.c.active,
    postgresql_where=ai_extraction_config.c.active,
)


# One row per provider/model per run (see kg_pipeline/store/analytics.py). cost_usd is
# NUMERIC(12, 6): exact micro-dollars on PostgreSQL, so SQL sums over thousands of runs stay exact
# (each stored cost is rounded by at most $0.0000005, far under the $0.01 the reports promise)
# while one cheap chunk ($0.00015 on gpt-4o-mini) still registers; SQLite keeps it as a REAL with
# 15 significant digits, as exact at these sizes. Floats come back either way (asdecimal=False).
extraction_analytics = sa.Table(
    "extraction_analytics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("valid_chunks", sa.Integer, nullable=False),
    # Chunks answered by a timed model call (not cached, with statistics): the weight that
    # combines runs' mean latencies exactly.
    sa.Column("model_calls", sa.Integer, nullable=False),
    sa.Column("cached_chunks", sa.Integer, nullable=False),
    sa.Column("fallbacks", sa.Integer, nullable=False),
    sa.Column("input_tokens", sa.BigInteger, nullable=False),
    sa.Column("output_tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_usd", sa.Numeric(12, 6, asdecimal=False), nullable=False),
    sa.Column("gpu_hours", sa.Float, nullable=False),
    sa.Column("latency_mean_seconds", sa.Float, nullable=True),
    sa.Column("latency_p95_seconds", sa.Float, nullable=True),
    sa.Column("success_rate", sa.Float, nullable=False),
    # The fallback rate's parts, on the row of the model asked first (not the fallback's): live
    # chunks that asked it, and those its endpoint's fallback answered; with the seconds each
    # failed attempt added before the fallback (mean, and nearest-rank p95).
    sa.Column("asked_chunks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("fell_back_chunks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("fallback_added_mean_seconds", sa.Float, nullable=True),
    sa.Column("fallback_added_p95_seconds", sa.Float, nullable=True),
)


# Multi-model routing rules (see kg_pipeline/extraction/routing.py): evaluated in ascending
# priority, the first active rule whose condition holds on a chunk's analysis picks the target
# model. The condition is checked by the code before it is written; the table only keeps targets to
# known providers (the foreign key to ``providers``).
routing_rules = sa.Table(
    "routing_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule_name", sa.String(100), nullable=False, unique=True),
    sa.Column("condition", sa.Text, nullable=False),
    sa.Column(
        "target_provider",
        sa.String(32),
        _known_provider("routing_rules", "target_provider"),
        nullable=False,
    ),
    sa.Column("target_model", sa.String(200), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.CheckConstraint("priority >= 0", name="ck_priority"),
)


def database_url() -> str:
    url = DATABASE_URL.get()
    if url:
        return url
    state = STATE_DIR.get()
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state / 'kg.sqlite3'}"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


_migrated: set[str] = set()
_migrating = threading.Lock()
# The first 16 bytes of every SQLite 3 database file.
_SQLITE_HEADER = b"SQLite format 3\x00"
RESET_COMMAND = "kg admin store reset"


class StoreUnusable(KgError, RuntimeError):
    """The configuration store exists but cannot be used as it is; the message names the file
    and the two ways on: restore it, or reset it."""


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = sa.make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename (``?uri=true``): SQLite's own syntax
        return None
    return Path(database)


def check_sqlite_file(path: Path) -> None:
    """Raise ``StoreUnusable`` when ``path`` exists but is not a SQLite database.

    SQLite treats an empty file as a new database, so a store truncated to 0 bytes (a full disk,
    a bad copy) would be silently rebuilt without its registrations and cached answers, and the
    embedded model made active. Only a missing file is a new store.
    """
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreUnusable(f"cannot read the configuration store {path}: {exc}") from exc
    if not header:
        raise _unusable(path, "is empty (0 bytes)")
    if header != _SQLITE_HEADER:
        raise _unusable(path, "is not a SQLite database")


def _unusable(path: Path, problem: str) -> StoreUnusable:
    return StoreUnusable(
        f"the configuration store {path} {problem}: its registered models and cached answers "
        f"are not there. Restore it from a backup, or run `{RESET_COMMAND}` to start a new, "
        "empty store (the file is kept beside it)"
    )


def _create_sqlite_file(path: Path) -> None:
    """Create a missing store as a complete database file in one step: a 0-byte file left by
    a bare connect would look, to a process starting beside this one, like a truncated store."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        connection = sqlite3.connect(draft)
        try:
            connection.execute("PRAGMA user_version = 0")  # writes the header: a real database
            connection.commit()
        finally:
            connection.close()
        # Fails if another process created it first: theirs stands.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def add_missing_providers(connection: sa.Connection) -> list[str]:
    """Add the registry's provider names that ``providers`` lacks; returns those added."""
    known = set(connection.execute(sa.select(providers.c.name)).scalars())
    missing = [name for name in PROVIDER_NAMES if name not in known]
    if missing:
        connection.execute(sa.insert(providers), [{"name": name} for name in missing])
    return missing


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already), and the
    known providers to the registry's."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    try:
        with engine.begin() as connection:
            add_missing_providers(connection)
    except sa.exc.IntegrityError:
        # Another process added the same names between the read and the write: read again.
        with engine.begin() as connection:
            add_missing_providers(connection)


def _enforce_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    """SQLite checks foreign keys only when each connection asks it to."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def create_engine(url: str | None = None) -> sa.Engine:
    """An engine whose schema is migrated to the newest version (once per process and URL).

    A SQLite file that exists must be a database (``check_sqlite_file``); a missing one is
    created. Other databases (PostgreSQL) are used as they are.
    """
    url = url or database_url()
    path = sqlite_file(url)
    if path is not None:
        check_sqlite_file(path)
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _enforce_foreign_keys)
    with _migrating:
        if path is not None and not path.exists():
            _create_sqlite_file(path)
            _migrated.discard(url)  # a new file (after a reset, say) has no tables yet
        if url not in _migrated:
            try:
                migrate(engine)
            except sa.exc.DatabaseError as exc:
                if path is None:
                    raise
                # A valid header over damaged pages ("database disk image is malformed").
                raise _unusable(path, f"is damaged ({exc.orig})") from exc
            _migrated.add(url)
    return engine
