"""The configuration store on both databases it runs on: SQLite (the default) and PostgreSQL
(production), each real — a file, and a throwaway server of the test session's own."""

import datetime as dt
import time
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kg_pipeline.store.config import ConfigError, ConfigStore, ModelConfig, parse_config
from kg_pipeline.store.database import ai_extraction_config, create_engine, metadata
from tests.postgres import Postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> sa.Engine:
    if request.param == "sqlite":
        return create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    postgres: Postgres = request.getfixturevalue("postgres")
    return create_engine(postgres.new_database())


def model(name: str = "gpu0-mistral", **values: Any) -> ModelConfig:
    base = {"name": name, "provider": "ollama", "model_name": "mistral:7b-instruct",
            "base_url": "http://gpu0:11434"}  # fmt: skip
    return ModelConfig.model_validate(base | values)


def test_migrations_build_exactly_the_tables_the_code_declares(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_a_saved_model_reads_back_with_every_column(engine: sa.Engine) -> None:
    store = ConfigStore(engine)
    saved = store.save(
        model(temperature=0.2, top_p=0.8, gpu_layers=20, num_threads=8, thinking_mode="low",
              max_concurrent_requests=6, max_retries=5, max_tokens=2048, supports_vision=True,
              active=True, options={"api_key_env": "GPU0_KEY", "keep_alive": "30m"}),
        updated_by="ops",
    )  # fmt: skip
    assert saved.id is not None and saved.updated_by == "ops"
    assert saved.created_at is not None and saved.created_at.tzinfo is not None
    settings = saved.settings()
    assert (settings.gpu_layers, settings.num_threads, settings.max_concurrent_requests) == (
        20,
        8,
        6,
    )
    assert (settings.temperature, settings.top_p, settings.max_output_tokens) == (0.2, 0.8, 2048)
    assert settings.thinking_mode.value == "low" and settings.keep_alive == "30m"
    assert store.active() == saved


def test_the_database_rejects_out_of_range_values_written_behind_the_stores_back(
    engine: sa.Engine,
) -> None:
    now = dt.datetime.now(dt.UTC)
    row = {"name": "x", "provider": "ollama", "model_name": "m", "base_url": "http://h:1",
           "created_at": now, "updated_at": now, "updated_by": "sql"}  # fmt: skip
    for bad in ({"temperature": 1.5}, {"top_p": -0.1}, {"provider": "ollam"},
                {"thinking_mode": "max"}, {"max_concurrent_requests": 101},
                {"max_retries": 21}, {"gpu_layers": -2}):  # fmt: skip
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.insert(ai_extraction_config).values(**(row | bad)))
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.select(sa.func.count()).select_from(ai_extraction_config)
            ).scalar()
            == 0
        )


def test_only_one_model_per_purpose_is_active_even_for_raw_sql(engine: sa.Engine) -> None:
    store = ConfigStore(engine)
    store.save(model("a", active=True))
    store.save(model("b", active=True))  # activating b deactivates a in the same transaction
    assert [(c.name, c.active) for c in store.list()] == [("a", False), ("b", True)]
    store.save(model("ref", purpose="baseline", active=True))  # another purpose: its own slot
    assert store.active("baseline").name == "ref" and store.active().name == "b"
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.update(ai_extraction_config)
            .where(ai_extraction_config.c.name == "a")
            .values(active=True)
        )


def test_every_write_changes_the_version_that_running_extractions_poll(engine: sa.Engine) -> None:
    store = ConfigStore(engine)
    first = store.save(model(active=True))
    assert store.version() == first.version() == store.version(first.name)
    time.sleep(0.01)  # timestamps must differ; microsecond resolution on both databases
    touched = store.touch(first.name)
    assert store.version() == touched.version() != first.version()
    assert store.version("unknown") == "missing"


def test_activating_an_unknown_model_names_the_registered_ones(engine: sa.Engine) -> None:
    store = ConfigStore(engine)
    store.save(model("a", active=True))
    with pytest.raises(ConfigError, match=r"no model named 'b' is registered \(registered: a\)"):
        store.activate("b")


def test_bad_input_is_one_line_naming_the_field_and_nothing_is_stored(engine: sa.Engine) -> None:
    store = ConfigStore(engine)
    base = {"name": "x", "provider": "ollama", "model_name": "m", "base_url": "http://h:1"}
    with pytest.raises(ConfigError, match="unknown provider 'ollam'; choose one of: ollama"):
        parse_config(base | {"provider": "ollam"})
    with pytest.raises(ConfigError, match="temperature: Input should be less than or equal to 1"):
        parse_config(base | {"temperature": 1.2})
    with pytest.raises(ConfigError, match="base_url: 'localhost:11434' is not an http"):
        parse_config(base | {"base_url": "localhost:11434"})
    assert store.list() == []


def test_the_api_key_is_read_from_the_environment_and_never_stored(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPU0_KEY", "sk-planted-secret")
    store = ConfigStore(engine)
    saved = store.save(model(options={"api_key_env": "GPU0_KEY"}))
    key = saved.settings().api_key
    assert key is not None and key.get_secret_value() == "sk-planted-secret"
    with engine.connect() as connection:
        rows = connection.execute(sa.select(ai_extraction_config)).all()
    assert "sk-planted-secret" not in repr(rows)
