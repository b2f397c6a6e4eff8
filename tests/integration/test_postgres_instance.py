"""The production storage layout: the Dagster instance from compose/dagster.yaml and the
configuration store, both on a real PostgreSQL server.

The rest of the suite runs on SQLite; this test is what says the instance config's env-var
wiring, the psycopg2 scheme (SQLAlchemy 2.1) and the assets' writes work on PostgreSQL too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from kg_pipeline.definitions import extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig, chunks, documents
from kg_pipeline.store.database import ai_extraction_config, response_cache
from tests.models import materialize_partition, register_model
from tests.postgres import Postgres
from tests.stand_in_server import EMPTY_EXTRACTION, StandInServer

REPO = Path(__file__).resolve().parents[2]
CHAT = "/v1/chat/completions"
MODEL = "pg-stand-in"


def _instance_home(tmp_path: Path, url: sa.URL, monkeypatch: pytest.MonkeyPatch) -> Path:
    """compose/dagster.yaml as deployed: every connection detail from DAGSTER_PG_* (the test
    server trusts local connections, so the empty password is what compose's would be)."""
    monkeypatch.setenv("DAGSTER_PG_HOST", str(url.host))
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port))
    monkeypatch.setenv("DAGSTER_PG_USER", str(url.username))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    monkeypatch.setenv("DAGSTER_PG_DB", str(url.database))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "compose" / "dagster.yaml", home / "dagster.yaml")
    return home


def test_assets_materialize_with_the_instance_and_the_config_store_on_postgresql(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance_url = sa.make_url(postgres.new_database())
    store_url = postgres.new_database()
    monkeypatch.setenv("KG_DATABASE_URL", store_url)
    home = _instance_home(tmp_path, instance_url, monkeypatch)
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    (corpus / "tea.md").write_text("Green tea contains caffeine.", encoding="utf-8")
    (corpus / "coffee.md").write_text("Coffee is brewed from roasted beans.", encoding="utf-8")
    run_config = dg.RunConfig(ops={"documents": DocumentsConfig(corpus_dir=str(corpus.parent))})

    with (
        StandInServer() as server,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        server.reply("POST", CHAT, EMPTY_EXTRACTION)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"

        ingested = dg.materialize([documents, chunks], instance=instance, run_config=run_config)
        assert ingested.success
        run = instance.get_run_by_id(ingested.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        latest = instance.get_latest_materialization_event(dg.AssetKey("chunks"))
        assert latest is not None and latest.run_id == ingested.run_id

        register_model(MODEL, server.base_url)
        extracted = materialize_partition(
            [documents, chunks, extractions], MODEL, run_config=run_config, instance=instance
        )
        assert extracted.success
        assert instance.get_materialized_partitions(dg.AssetKey("extractions")) == {MODEL}
        extracted_run = instance.get_run_by_id(extracted.run_id)
        assert extracted_run is not None and extracted_run.tags["dagster/partition"] == MODEL

    records = extracted.output_for_node("extractions")
    assert sorted(r.chunk_id.split("#")[0] for r in records) == ["notes/coffee", "notes/tea"]
    assert all(r.status.value == "valid" for r in records)
    assert len([r for r in server.requests if r.path == CHAT]) == 2

    # Both runs are rows of the instance's own PostgreSQL database...
    engine = sa.create_engine(instance_url)
    try:
        with engine.connect() as connection:
            stored = set(connection.execute(sa.text("SELECT run_id FROM runs")).scalars())
    finally:
        engine.dispose()
    assert stored == {ingested.run_id, extracted.run_id}
    # ...and the model and its answers live in the store's, with no SQLite file beside them.
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            names = connection.execute(sa.select(ai_extraction_config.c.name)).scalars().all()
            cached = connection.execute(sa.select(sa.func.count()).select_from(response_cache))
            cached_answers = cached.scalar_one()
    finally:
        engine.dispose()
    assert names == [MODEL]
    assert cached_answers == 2
    assert not (tmp_path / "state" / "kg.sqlite3").exists()
