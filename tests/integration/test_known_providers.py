"""The database's known providers follow the registry with no migration, on both databases it
runs on (SQLite and a real PostgreSQL of the test session's own): every registry name is stored,
any other name is refused whoever writes it, and a name the table lacks is added on opening."""

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from kg_pipeline.providers.registry import PROVIDER_NAMES
from kg_pipeline.store.config import ConfigError, ConfigStore, ModelConfig, parse_config
from kg_pipeline.store.database import (
    add_missing_providers,
    ai_extraction_config,
    alembic_config,
    create_engine,
    providers,
    routing_rules,
)
from kg_pipeline.store.routing import RoutingStore
from tests.postgres import Postgres

NOW = dt.datetime.now(dt.UTC)
ROW = {"model_name": "m", "base_url": "http://h:1", "created_at": NOW, "updated_at": NOW,
       "updated_by": "sql"}  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> sa.Engine:
    if request.param == "sqlite":
        return create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    postgres: Postgres = request.getfixturevalue("postgres")
    return create_engine(postgres.new_database())


def known(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(providers.c.name)).scalars())


def test_the_known_providers_are_the_registrys(engine: sa.Engine) -> None:
    assert known(engine) == sorted(PROVIDER_NAMES)
    assert "ck_provider" not in {
        c["name"] for c in sa.inspect(engine).get_check_constraints("ai_extraction_config")
    }


def test_a_model_on_every_registered_provider_is_stored(engine: sa.Engine) -> None:
    store = ConfigStore(engine)
    for name in PROVIDER_NAMES:
        store.save(ModelConfig(name=f"on-{name}", provider=name, model_name="m",  # type: ignore[arg-type]
                               base_url="http://h:1"))  # fmt: skip
    assert sorted(c.provider for c in store.list()) == sorted(PROVIDER_NAMES)


def test_an_unknown_provider_is_refused_with_the_names_there_are(engine: sa.Engine) -> None:
    values = {"name": "x", "provider": "sglang", "model_name": "m", "base_url": "http://h:1"}
    with pytest.raises(ConfigError, match="unknown provider 'sglang'; choose one of: ollama, vllm"):
        parse_config(values)
    for table, row in ((ai_extraction_config, ROW | {"name": "x", "provider": "sglang"}),
                       (routing_rules, {"rule_name": "r", "condition": "word_count > 1",
                                        "target_provider": "sglang", "target_model": "m",
                                        "priority": 1, "created_at": NOW, "updated_at": NOW,
                                        "updated_by": "sql"})):  # fmt: skip
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.insert(table).values(**row))
    assert ConfigStore(engine).list() == [] and RoutingStore(engine).list() == []


def test_a_registry_name_the_table_lacks_is_added_without_a_migration(engine: sa.Engine) -> None:
    # As for a provider added to the registry after the database was made: the table lacks it.
    with engine.begin() as connection:
        connection.execute(sa.delete(providers).where(providers.c.name == "anthropic"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.insert(ai_extraction_config).values(**ROW, name="c", provider="anthropic")
        )
    with engine.begin() as connection:
        assert add_missing_providers(connection) == ["anthropic"]
        assert add_missing_providers(connection) == []
    ConfigStore(engine).save(
        ModelConfig(name="c", provider="anthropic", model_name="m", base_url="http://h:1")
    )
    assert known(engine) == sorted(PROVIDER_NAMES)


def test_migration_0006_downgrades_to_check_constraints_and_upgrades_again_keeping_rows(
    engine: sa.Engine,
) -> None:
    store = ConfigStore(engine)
    store.save(ModelConfig(name="a", provider="vllm", model_name="m", base_url="http://h:1"))
    store.save(ModelConfig(name="b", provider="ollama", model_name="m", base_url="http://h:1",
                           active=True))  # fmt: skip
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    assert "providers" not in sa.inspect(engine).get_table_names()
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.insert(ai_extraction_config).values(**ROW, name="x", provider="ollam")
        )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert known(engine) == sorted(PROVIDER_NAMES)
    assert [(c.name, c.provider, c.active) for c in store.list()] == [
        ("a", "vllm", False),
        ("b", "ollama", True),
    ]
    # The partial unique index came through both copies of the table: one active per purpose.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.update(ai_extraction_config)
            .where(ai_extraction_config.c.name == "a")
            .values(active=True)
        )
