"""Engine and tables (SQLAlchemy Core).

The default is a SQLite file in the project's state folder, so a fresh checkout needs no server;
``KG_DATABASE_URL`` points it elsewhere (``postgresql+psycopg2://…`` in production).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

DATABASE_URL_ENV = "KG_DATABASE_URL"

metadata = sa.MetaData()

response_cache = sa.Table(
    "response_cache",
    metadata,
    # sha256 of what determines the answer (see kg_pipeline/store/cache.py), not of the transport.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("provider_kind", sa.String(32), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("prompt_version", sa.String(64), nullable=False),
    sa.Column("extraction_json", sa.Text, nullable=False),
    sa.Column("stats_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def database_url() -> str:
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    state = Path(os.environ.get("KG_STATE_DIR", ".kg"))
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state / 'kg.sqlite3'}"


def create_engine(url: str | None = None) -> sa.Engine:
    """An engine with the tables in place (created if missing; migrations come with the
    configuration store)."""
    engine = sa.create_engine(url or database_url(), future=True)
    metadata.create_all(engine)
    return engine
