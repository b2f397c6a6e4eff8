import json
from pathlib import Path

import pytest

from kg_pipeline.contract.pricing import cost_usd


def test_cost_is_computed_from_the_price_table() -> None:
    # gpt-4o-mini: 1,000,000 prompt tokens x $0.15 + 200,000 completion x $0.60 / 1e6
    # = 0.15 + 0.12 = $0.27.
    assert cost_usd("gpt-4o-mini", 1_000_000, 200_000) == pytest.approx(0.27)


def test_unpriced_models_and_missing_counts_have_no_cost() -> None:
    assert cost_usd("qwen2.5-coder-0.5b-instruct", 100, 100) is None
    assert cost_usd("gpt-4o", None, 100) is None


def test_users_can_point_at_their_own_prices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"usd_per_million_tokens": {"in-house-70b": {"input": 0.1, "output": 0.2}}})
    )
    monkeypatch.setenv("KG_PRICES_FILE", str(path))
    # 1e6 x 0.1 / 1e6 + 1e6 x 0.2 / 1e6 = $0.30
    assert cost_usd("in-house-70b", 1_000_000, 1_000_000) == pytest.approx(0.3)
