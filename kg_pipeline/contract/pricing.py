"""What a cloud call cost, from an editable price table (``kg_pipeline/contract/prices.json``, or
the file named by ``KG_PRICES_FILE``), and what a local model's GPU time costs when an owner
amortises it.

The file is re-read when it changes (its modification time is part of the cache key), so an edit
applies to the next run of a long-lived process without a restart.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from kg_pipeline.errors import KgError
from kg_pipeline.settings import GPU_COST_PER_HOUR, PRICES_FILE

_DEFAULT = Path(__file__).with_name("prices.json")


class PriceFileError(KgError, ValueError):
    """The price file cannot be read; the message names the file and the field."""


class Price(BaseModel):
    input: float = Field(ge=0)  # USD per million prompt tokens
    output: float = Field(ge=0)  # USD per million completion tokens


class PriceTable(BaseModel):
    usd_per_million_tokens: dict[str, Price] = Field(default_factory=dict)
    # USD per hour of a local model's GPU, keyed by endpoint name, model or provider.
    local_gpu_per_hour: dict[str, float] = Field(default_factory=dict)

    def price(self, model: str) -> Price | None:
        return self.usd_per_million_tokens.get(model)


def prices_file() -> Path:
    return PRICES_FILE.get() or _DEFAULT


@lru_cache(maxsize=4)
def _load(path: str, modified_ns: int) -> PriceTable:
    try:
        return PriceTable.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise PriceFileError(f"cannot read the price file {path}: {exc}") from exc


def price_table() -> PriceTable:
    """The current price table (the packaged one unless ``KG_PRICES_FILE`` names another)."""
    path = prices_file()
    try:
        modified = path.stat().st_mtime_ns
    except OSError as exc:
        raise PriceFileError(
            f"the price file {path} does not exist; fix {PRICES_FILE.name} or unset it to use "
            "the packaged prices"
        ) from exc
    return _load(str(path), modified)


def default_gpu_cost_per_hour() -> float | None:
    """``KG_GPU_COST_PER_HOUR``: the rate for local models the price file does not name."""
    value = GPU_COST_PER_HOUR.get()
    if not value:
        return None
    try:
        rate = float(value)
    except ValueError as exc:
        raise PriceFileError(
            f"{GPU_COST_PER_HOUR.name}={value!r} is not a number of dollars"
        ) from exc
    if rate < 0:
        raise PriceFileError(f"{GPU_COST_PER_HOUR.name}={value!r} is negative")
    return rate


def cost_usd(model: str, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """None when the model is not priced (a local model) or the server gave no token counts."""
    price = price_table().price(model)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000
