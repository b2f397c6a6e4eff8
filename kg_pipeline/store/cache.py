"""The response cache's table: the store behind ``middleware.cached.CachedProvider``.

Each row keeps a valid answer as its JSON (the extraction, the call statistics) under the key
``middleware.cached.cache_key`` computes, so rows written before this module took its present
shape still answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import sqlalchemy as sa

from kg_pipeline.contract.schema import Extraction
from kg_pipeline.providers.base import CallStats, ProviderResult
from kg_pipeline.store.database import response_cache


class SqlResponseCache:
    """A ``ResponseCache`` in the project's database (the ``response_cache`` table)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> ProviderResult | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(response_cache.c.extraction_json, response_cache.c.stats_json).where(
                    response_cache.c.key == key
                )
            ).first()
        if row is None:
            return None
        return ProviderResult(
            extraction=Extraction.model_validate_json(row.extraction_json),
            stats=CallStats.model_validate_json(row.stats_json),
        )

    def put(
        self,
        key: str,
        result: ProviderResult,
        *,
        provider_kind: str,
        model: str,
        prompt_version: str,
    ) -> None:
        values = {
            "key": key,
            "provider_kind": provider_kind,
            "model": model,
            "prompt_version": prompt_version,
            "extraction_json": result.extraction.model_dump_json(),
            "stats_json": result.stats.model_dump_json(),
            "created_at": dt.datetime.now(dt.UTC),
        }
        # Another run may have stored the same answer first; the first one stays.
        with contextlib.suppress(sa.exc.IntegrityError), self.engine.begin() as connection:
            connection.execute(sa.insert(response_cache).values(**values))
