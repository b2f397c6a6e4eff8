"""What a cloud call cost, from an editable price table (``kg_pipeline/prices.json``, or the file
named by ``KG_PRICES_FILE``)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

PRICES_FILE_ENV = "KG_PRICES_FILE"
_DEFAULT = Path(__file__).with_name("prices.json")


class Price(BaseModel):
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens


@lru_cache(maxsize=4)
def _prices(path: str) -> dict[str, Price]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {model: Price.model_validate(p) for model, p in data["usd_per_million_tokens"].items()}


def cost_usd(model: str, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """None when the model is not priced (a local model) or the server gave no token counts."""
    price = _prices(os.environ.get(PRICES_FILE_ENV) or str(_DEFAULT)).get(model)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000
