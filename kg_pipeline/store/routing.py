"""The routing rules: what a rule is (one row of ``routing_rules``), the defaults a fresh store is
seeded with, and the rules' reads and writes. The router that applies them to chunks is
kg_pipeline/extraction/routing.py.

A fresh store is seeded with ``DEFAULT_RULES``, the plan this pipeline replaces: code to a code
model, complex chunks to a 14B model, simple chunks to a fast 7B model; medium chunks, and any
chunk whose target is not registered, go to the active model. Seeding happens only when the table
is empty: to route nothing, deactivate the rules rather than removing them all.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError, field_validator

from kg_pipeline.providers.base import ProviderName
from kg_pipeline.store.config import current_user, validation_message
from kg_pipeline.store.database import create_engine, routing_rules
from kg_pipeline.store.routing_conditions import (
    MAX_CONDITION_CHARS,
    RoutingError,
    parse_condition,
)


class RoutingRule(BaseModel):
    """One row of ``routing_rules``; the condition is checked on construction, so a bad rule
    never reaches the table."""

    rule_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    condition: str = Field(min_length=1, max_length=MAX_CONDITION_CHARS)
    target_provider: ProviderName
    target_model: str = Field(min_length=1, max_length=200)
    priority: int = Field(default=100, ge=0, le=1_000_000, description="Lower runs first.")
    active: bool = True
    id: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    updated_by: str | None = None

    @field_validator("condition")
    @classmethod
    def _valid_condition(cls, value: str) -> str:
        return parse_condition(value).text

    @property
    def target(self) -> str:
        return f"{self.target_provider} {self.target_model}"


# Lower priority numbers are evaluated first: a code chunk is usually also "complex" (dense
# identifiers), and the code model should win it.
DEFAULT_RULES = (
    RoutingRule(
        rule_name="code-to-coder",
        condition='content_type == "code"',
        target_provider="ollama",
        target_model="qwen2.5-coder:7b-instruct",
        priority=10,
    ),
    RoutingRule(
        rule_name="complex-to-14b",
        condition='complexity == "complex"',
        target_provider="ollama",
        target_model="qwen2.5:14b-instruct",
        priority=20,
    ),
    RoutingRule(
        rule_name="simple-to-fast",
        condition='complexity == "simple"',
        target_provider="ollama",
        target_model="qwen2.5:7b-instruct",
        priority=30,
    ),
)


def parse_rule(values: dict[str, Any]) -> RoutingRule:
    """``RoutingRule.model_validate`` with the error as one line naming the field."""
    try:
        return RoutingRule.model_validate(values)
    except ValidationError as exc:
        raise RoutingError(validation_message(exc)) from exc


def _from_row(row: sa.Row[Any]) -> RoutingRule:
    data = dict(row._mapping)
    for stamp in ("created_at", "updated_at"):
        # SQLite hands timestamps back without their zone; they were written in UTC.
        if data[stamp] is not None and data[stamp].tzinfo is None:
            data[stamp] = data[stamp].replace(tzinfo=dt.UTC)
    return RoutingRule.model_validate(data)


class RoutingStore:
    """Reads and writes ``routing_rules``; rules come back in evaluation order."""

    def __init__(self, engine: sa.Engine | None = None) -> None:
        self.engine = engine or create_engine()

    def list(self, active_only: bool = False) -> list[RoutingRule]:
        table = routing_rules
        query = sa.select(table).order_by(table.c.priority, table.c.rule_name)
        if active_only:
            query = query.where(table.c.active)
        with self.engine.connect() as connection:
            return [_from_row(row) for row in connection.execute(query)]

    def active(self) -> builtins.list[RoutingRule]:
        return self.list(active_only=True)

    def find(self, rule_name: str) -> RoutingRule | None:
        query = sa.select(routing_rules).where(routing_rules.c.rule_name == rule_name)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return _from_row(row) if row else None

    def save(self, rule: RoutingRule, updated_by: str | None = None) -> RoutingRule:
        """Insert or update the rule named ``rule.rule_name``. The rule was validated when it
        was built, so a condition outside the language never reaches the table."""
        now = dt.datetime.now(dt.UTC)
        values = rule.model_dump(exclude={"id", "created_at", "updated_at", "updated_by"}) | {
            "updated_at": now,
            "updated_by": updated_by or current_user(),
        }
        table = routing_rules
        with self.engine.begin() as connection:
            exists = connection.execute(
                sa.select(table.c.id).where(table.c.rule_name == rule.rule_name)
            ).first()
            if exists:
                connection.execute(
                    sa.update(table).where(table.c.rule_name == rule.rule_name).values(**values)
                )
            else:
                connection.execute(sa.insert(table).values(**values, created_at=now))
        saved = self.find(rule.rule_name)
        assert saved is not None  # written just now
        return saved

    def remove(self, rule_name: str) -> None:
        with self.engine.begin() as connection:
            removed = connection.execute(
                sa.delete(routing_rules).where(routing_rules.c.rule_name == rule_name)
            ).rowcount
        if not removed:
            names = ", ".join(r.rule_name for r in self.list()) or "none"
            raise RoutingError(
                f"no routing rule named {rule_name!r} (rules: {names}); see `kg admin routing list`"
            )

    def ensure_defaults(self) -> builtins.list[RoutingRule]:
        """All rules, after seeding ``DEFAULT_RULES`` into an empty table."""
        with self.engine.connect() as connection:
            empty = not connection.execute(sa.select(routing_rules.c.id).limit(1)).first()
        if empty:
            for rule in DEFAULT_RULES:
                self.save(rule, updated_by="default")
        return self.list()
