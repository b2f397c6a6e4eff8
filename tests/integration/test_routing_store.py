"""The routing rules table on both databases it runs on (SQLite and a real PostgreSQL of the test
session's own), the router built from it, and the `kg admin routing` commands."""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from kg_pipeline.cli.routing import routing
from kg_pipeline.extraction.routing import load_router
from kg_pipeline.providers import create_provider
from kg_pipeline.store.config import ConfigStore, ModelConfig
from kg_pipeline.store.database import alembic_config, create_engine, routing_rules
from kg_pipeline.store.routing import RoutingRule, RoutingStore, parse_rule
from kg_pipeline.store.routing_conditions import RoutingError
from tests.models import register_model
from tests.postgres import Postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> sa.Engine:
    if request.param == "sqlite":
        return create_engine(f"sqlite:///{tmp_path / 'kg.sqlite3'}")
    postgres: Postgres = request.getfixturevalue("postgres")
    return create_engine(postgres.new_database())


def rule(name: str = "tables", **values: Any) -> RoutingRule:
    base = {"rule_name": name, "condition": 'content_type == "table"',
            "target_provider": "ollama", "target_model": "qwen2.5:7b-instruct", "priority": 5}  # fmt: skip
    return RoutingRule.model_validate(base | values)


def test_an_empty_table_is_seeded_with_the_default_plan_in_evaluation_order(
    engine: sa.Engine,
) -> None:
    store = RoutingStore(engine)
    assert store.list() == []
    seeded = store.ensure_defaults()
    assert [(r.priority, r.rule_name, r.condition, r.target) for r in seeded] == [
        (10, "code-to-coder", 'content_type == "code"', "ollama qwen2.5-coder:7b-instruct"),
        (20, "complex-to-14b", 'complexity == "complex"', "ollama qwen2.5:14b-instruct"),
        (30, "simple-to-fast", 'complexity == "simple"', "ollama qwen2.5:7b-instruct"),
    ]
    assert all(r.updated_by == "default" and r.active for r in seeded)
    store.save(seeded[0].model_copy(update={"active": False}))
    assert len(store.ensure_defaults()) == 3  # not empty: nothing seeded again
    assert [r.rule_name for r in store.active()] == ["complex-to-14b", "simple-to-fast"]


def test_saving_a_rule_by_name_updates_it_and_stamps_who_and_when(engine: sa.Engine) -> None:
    store = RoutingStore(engine)
    first = store.save(rule(), updated_by="ops")
    assert first.id is not None and first.updated_by == "ops"
    assert first.created_at is not None and first.created_at.tzinfo is not None
    changed = store.save(rule(priority=50, condition="tables >= 1"), updated_by="dev")
    assert (changed.id, changed.priority, changed.condition) == (first.id, 50, "tables >= 1")
    assert changed.updated_by == "dev" and changed.created_at == first.created_at
    assert changed.updated_at is not None and first.updated_at is not None
    assert changed.updated_at >= first.updated_at
    assert len(store.list()) == 1


def test_a_bad_rule_is_one_line_naming_the_field_and_nothing_is_stored(engine: sa.Engine) -> None:
    store = RoutingStore(engine)
    values = rule().model_dump(exclude={"id", "created_at", "updated_at", "updated_by"})
    with pytest.raises(RoutingError, match=r"^condition: in 'open\(1\) == 1', a function call"):
        parse_rule(values | {"condition": "open(1) == 1"})
    with pytest.raises(RoutingError, match="target_provider: Input should be 'ollama'"):
        parse_rule(values | {"target_provider": "ollam"})
    with pytest.raises(RoutingError, match="priority: Input should be greater than or equal to 0"):
        parse_rule(values | {"priority": -1})
    assert store.list() == []


def test_the_database_refuses_bad_rows_written_behind_the_stores_back(engine: sa.Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    row = {"rule_name": "r", "condition": "word_count > 1", "target_provider": "ollama",
           "target_model": "m", "priority": 1, "created_at": now, "updated_at": now,
           "updated_by": "sql"}  # fmt: skip
    for bad in ({"target_provider": "ollam"}, {"priority": -1}):
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sa.insert(routing_rules).values(**(row | bad)))
    with engine.begin() as connection:
        connection.execute(sa.insert(routing_rules).values(**row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(routing_rules).values(**row))  # rule_name is unique


def test_removing_an_unknown_rule_names_the_rules_there_are(engine: sa.Engine) -> None:
    store = RoutingStore(engine)
    store.save(rule("a"))
    with pytest.raises(RoutingError, match=r"no routing rule named 'b' \(rules: a\)"):
        store.remove("b")
    store.remove("a")
    assert store.list() == []


def test_migration_0004_downgrades_and_upgrades_again(engine: sa.Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert "routing_rules" not in sa.inspect(engine).get_table_names()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert "routing_rules" in sa.inspect(engine).get_table_names()


def test_the_router_reads_rules_and_models_from_the_same_database(engine: sa.Engine) -> None:
    models = ConfigStore(engine)
    models.save(ModelConfig(name="default", provider="vllm", model_name="d",
                            base_url="http://127.0.0.1:9", active=True))  # fmt: skip
    models.save(ModelConfig(name="fast", provider="ollama", model_name="qwen2.5:7b-instruct",
                            base_url="http://127.0.0.1:9"))  # fmt: skip
    router = load_router(models, build=lambda c: create_provider(c.settings()))
    # Defaults seeded; only the fast 7B is registered, so code goes to the default model.
    assert [r.rule_name for r in router.rules] == [
        "code-to-coder",
        "complex-to-14b",
        "simple-to-fast",
    ]
    simple = router.decide("A short note. Nothing more.")
    assert (simple.rule_name, simple.registered_name) == ("simple-to-fast", "fast")
    code = router.decide("```sh\nls\n```")
    assert (code.rule_name, code.registered_name) == (None, "default")
    assert code.fallback_reason and "'code-to-coder' matched but" in code.fallback_reason


def test_the_routing_commands_add_list_explain_and_remove(tmp_path: Path) -> None:
    # The CLI uses the test's own SQLite store (KG_STATE_DIR, see the isolated_state fixture).
    register_model("table-model", "http://127.0.0.1:9", model="tabular", provider="ollama")
    runner = CliRunner()
    added = runner.invoke(
        routing,
        ["add", "--name", "tables", "--condition", 'content_type == "table"',
         "--provider", "ollama", "--model", "tabular", "--priority", "5"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output == "added tables (priority 5)\n"
    listed = runner.invoke(routing, ["list"])
    lines = listed.output.splitlines()
    # The table rule first (priority 5), then the seeded defaults, none of them registered.
    assert lines[0].split() == ["5", "tables", "[active]", "if", "content_type", "==", '"table"']
    assert lines[1].strip() == "→ ollama tabular → table-model"
    assert "(not registered: skipped)" in lines[3]
    document = tmp_path / "prices.md"
    document.write_text("| fruit | price |\n|---|---|\n| apple | 3 |\n", encoding="utf-8")
    explained = runner.invoke(routing, ["explain", str(document), "--json"])
    assert explained.exit_code == 0, explained.output
    (decision,) = json.loads(explained.output)
    assert (decision["rule_name"], decision["registered_name"]) == ("tables", "table-model")
    assert decision["analysis"]["table_rows"] == 3
    refused = runner.invoke(
        routing,
        ["add", "--name", "evil", "--condition", "__import__('os')", "--provider", "ollama",
         "--model", "m"],
    )  # fmt: skip
    assert refused.exit_code == 1 and "a function call is not allowed" in refused.output
    assert runner.invoke(routing, ["remove", "tables"]).output == "removed tables\n"
    missing = runner.invoke(routing, ["remove", "tables"])
    assert missing.exit_code == 1 and "no routing rule named 'tables'" in missing.output
