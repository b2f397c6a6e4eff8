"""The model configuration store: which models are registered, which one is active, and with
what settings — switchable at run time, because every chunk re-reads it (see ``version``).

A row is validated by ``ModelConfig`` before it is written, so bad input fails with one message
that names the fix and nothing is stored; the table's constraints catch what slips past (another
writer, a hand-edited row).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from typing import Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError, field_validator

from kg_pipeline.contract.messages import PromptVersion
from kg_pipeline.errors import KgError
from kg_pipeline.providers.base import (
    ApiKeyVariable,
    EndpointFields,
    EndpointOptions,
    EndpointSettings,
    ProviderName,
    ThinkingMode,
)
from kg_pipeline.providers.registry import PROVIDER_NAMES, UnknownProvider
from kg_pipeline.settings import USER
from kg_pipeline.store.database import ai_extraction_config, create_engine

Purpose = Literal["extraction", "baseline"]


class ConfigError(KgError, ValueError):
    """A configuration that cannot be stored or used; the message says how to fix it."""


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{value!r} is not an http(s) URL; give the server root, e.g. "
            "http://127.0.0.1:11434 for Ollama or http://gpu-0:8000 for vLLM"
        )
    return value.rstrip("/")


class Replica(BaseModel):
    """Another server (GPU) serving the same model: chunks go to the least busy of them."""

    base_url: str
    slots: int = Field(default=4, ge=1, le=100, description="Requests it takes at once.")
    gpu_id: str | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)


class ModelOptions(EndpointOptions, ApiKeyVariable):
    """Settings the legacy table has no column for; stored as JSON in ``options``: the
    endpoint's options (declared with the endpoint) and the model's own below.

    The key variable's base comes last so its field comes first: the stored JSON and the
    automation's fingerprint of a model keep the order they always had."""

    manage_local_server: bool = False
    replicas: list[Replica] = Field(
        default_factory=list,
        description="More servers of the same model; the row's base_url is the first, with "
        "max_concurrent_requests as its slots.",
    )
    # The extraction step's switches (kg_pipeline/extraction/extract.py ``ExtractionOptions``).
    prompt_version: PromptVersion = "kg-extract-v1"
    ground_quotes: bool = True
    gleaning: int = Field(default=0, ge=0, le=3, description="Extra passes for what was missed.")


# The endpoint's fields that are columns of the table, and the two columns named otherwise (the
# table came first); every other endpoint field is one of the options.
_OPTION_FIELDS = set(EndpointOptions.model_fields)
_COLUMN_FIELDS = set(EndpointFields.model_fields) - _OPTION_FIELDS
_COLUMN_OF_FIELD = {"model": "model_name", "max_output_tokens": "max_tokens"}


class ModelConfig(BaseModel):
    """One registered model: a row of ``ai_extraction_config``."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    purpose: Purpose = "extraction"
    provider: ProviderName
    model_name: str = Field(min_length=1, max_length=200)
    base_url: str
    supports_vision: bool = False
    supports_json_mode: bool = True
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.1, ge=0.0, le=1.0)
    top_p: float = Field(default=0.9, ge=0.0, le=1.0)
    gpu_layers: int = Field(default=-1, ge=-1)
    num_threads: int | None = Field(default=None, ge=1)
    thinking_mode: ThinkingMode = ThinkingMode.OFF
    max_concurrent_requests: int = Field(default=4, ge=1, le=100)
    max_retries: int = Field(default=3, ge=0, le=20)
    active: bool = False
    options: ModelOptions = Field(default_factory=ModelOptions)
    id: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    updated_by: str | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)

    @classmethod
    def from_endpoint(
        cls, endpoint: EndpointFields, options: ModelOptions | None = None, active: bool = False
    ) -> ModelConfig:
        """The row of ``endpoint``, the inverse of ``settings``: its fields go to their columns
        and options; ``options`` gives the model's own (its key variable, replicas, ...)."""
        fields = endpoint.model_dump(include=_COLUMN_FIELDS | _OPTION_FIELDS)
        columns = {_COLUMN_OF_FIELD.get(f, f): fields[f] for f in _COLUMN_FIELDS}
        own = options.model_dump(exclude=_OPTION_FIELDS) if options else {}
        stored = ModelOptions(**own, **{f: fields[f] for f in _OPTION_FIELDS})
        return cls(**columns, options=stored, active=active)

    def settings(self) -> EndpointSettings:
        """What a provider needs; the API key is read from the environment here, at use."""
        fields = {f: getattr(self, _COLUMN_OF_FIELD.get(f, f)) for f in _COLUMN_FIELDS}
        fields |= self.options.model_dump(include=_OPTION_FIELDS)
        if not self.supports_json_mode:  # without a JSON mode, the schema can only go in the prompt
            fields["structured_output"] = "prompt_only"
        return EndpointSettings(**fields, api_key=self.options.api_key())

    def replica_settings(self) -> list[tuple[EndpointSettings, int]]:
        """Each server of this model with its slots: the row's own first, then the replicas."""
        first = self.settings()
        servers = [(first, self.max_concurrent_requests)]
        for n, replica in enumerate(self.options.replicas, start=1):
            settings = first.model_copy(
                update={
                    "name": f"{self.name}#{replica.gpu_id or n}",
                    "base_url": replica.base_url,
                    "max_concurrent_requests": replica.slots,
                }
            )
            servers.append((settings, replica.slots))
        return servers

    def version(self) -> str:
        """Changes whenever the row does: the next chunk rebuilds its provider when it differs."""
        return f"{self.id}:{self.updated_at.isoformat() if self.updated_at else ''}"


def validation_message(exc: ValidationError) -> str:
    """pydantic's error as one line per field, naming the field and the allowed values."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "value"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def _row_values(config: ModelConfig) -> dict[str, Any]:
    values = config.model_dump(exclude={"id", "created_at", "updated_at", "updated_by"})
    values["thinking_mode"] = config.thinking_mode.value
    values["options"] = config.options.model_dump_json(exclude_defaults=True)
    return values


def _from_row(row: sa.Row[Any]) -> ModelConfig:
    data = dict(row._mapping)
    data["options"] = json.loads(data["options"] or "{}")
    for stamp in ("created_at", "updated_at"):
        # SQLite hands timestamps back without their zone; they were written in UTC.
        if data[stamp] is not None and data[stamp].tzinfo is None:
            data[stamp] = data[stamp].replace(tzinfo=dt.UTC)
    return ModelConfig.model_validate(data)


def current_user() -> str:
    try:
        return USER.get() or getpass.getuser()
    except OSError:  # no name for this uid (containers)
        return f"uid-{os.getuid()}"


class ConfigStore:
    """Reads and writes ``ai_extraction_config``. Every write stamps ``updated_at``, which is
    what running extractions poll to pick up a change at their next chunk."""

    def __init__(self, engine: sa.Engine | None = None) -> None:
        self.engine = engine or create_engine()

    def list(self, purpose: Purpose | None = None) -> list[ModelConfig]:
        query = sa.select(ai_extraction_config).order_by(ai_extraction_config.c.id)
        if purpose:
            query = query.where(ai_extraction_config.c.purpose == purpose)
        with self.engine.connect() as connection:
            return [_from_row(row) for row in connection.execute(query)]

    def get(self, name: str) -> ModelConfig:
        found = self.find(name)
        if found is None:
            names = ", ".join(c.name for c in self.list()) or "none"
            raise ConfigError(
                f"no model named {name!r} is registered (registered: {names}); register it with "
                "`kg admin extraction set`"
            )
        return found

    def find(self, name: str) -> ModelConfig | None:
        query = sa.select(ai_extraction_config).where(ai_extraction_config.c.name == name)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return _from_row(row) if row else None

    def active(self, purpose: Purpose = "extraction") -> ModelConfig:
        query = sa.select(ai_extraction_config).where(
            ai_extraction_config.c.purpose == purpose, ai_extraction_config.c.active
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise ConfigError(
                f"no {purpose} model is active; activate one with "
                "`kg admin extraction reload --model NAME` or register one with "
                "`kg admin extraction set`"
            )
        return _from_row(row)

    def named_or_active(self, name: str | None, purpose: Purpose = "extraction") -> ModelConfig:
        """The named row, else the active one: the model a run follows."""
        return self.get(name) if name else self.active(purpose)

    def version(self, name: str | None = None, purpose: Purpose = "extraction") -> str:
        """A cheap fingerprint of the named (else the active) row, polled once per chunk."""
        table = ai_extraction_config
        query = sa.select(table.c.id, table.c.updated_at)
        if name is None:
            query = query.where(table.c.purpose == purpose, table.c.active)
        else:
            query = query.where(table.c.name == name)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return "missing"
        stamp = row.updated_at
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
        return f"{row.id}:{stamp.isoformat() if stamp else ''}"

    def save(self, config: ModelConfig, updated_by: str | None = None) -> ModelConfig:
        """Insert or update the row named ``config.name``; when it is to be active, the other
        row of its purpose is deactivated in the same transaction."""
        now = dt.datetime.now(dt.UTC)
        values = _row_values(config) | {
            "updated_at": now,
            "updated_by": updated_by or current_user(),
        }
        table = ai_extraction_config
        with self.engine.begin() as connection:
            if config.active:
                connection.execute(
                    sa.update(table)
                    .where(table.c.purpose == config.purpose, table.c.name != config.name)
                    .values(active=False)
                )
            exists = connection.execute(
                sa.select(table.c.id).where(table.c.name == config.name)
            ).first()
            if exists:
                connection.execute(
                    sa.update(table).where(table.c.name == config.name).values(**values)
                )
            else:
                connection.execute(sa.insert(table).values(**values, created_at=now))
        return self.get(config.name)

    def activate(self, name: str, updated_by: str | None = None) -> ModelConfig:
        config = self.get(name)
        return self.save(config.model_copy(update={"active": True}), updated_by)

    def touch(self, name: str, updated_by: str | None = None) -> ModelConfig:
        """Mark a row changed without changing it: running extractions rebuild their provider
        (for a row edited behind the store's back, e.g. in SQL)."""
        return self.save(self.get(name), updated_by)

    def remove(self, name: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(ai_extraction_config).where(ai_extraction_config.c.name == name)
            )


def parse_config(values: dict[str, Any]) -> ModelConfig:
    """``ModelConfig.model_validate`` with the error as a one-line ``ConfigError``."""
    provider = values.get("provider")
    if provider is not None and provider not in PROVIDER_NAMES:
        raise ConfigError(str(UnknownProvider(provider)))
    try:
        return ModelConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc)) from exc
