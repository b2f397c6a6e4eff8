"""The SQLite configuration store as a file: an existing file that is empty, not a database or
damaged is an error naming the file and the fix, never silently rebuilt; `kg admin store reset`
starts anew on request, keeping the old file."""

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from kg_pipeline.cli.main import main
from kg_pipeline.defs.registry import ensure_registered
from kg_pipeline.store.config import ConfigStore
from kg_pipeline.store.database import StoreUnusable, create_engine, response_cache
from tests.models import register_model

HEADER = b"SQLite format 3\x00"


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    """The store the `isolated_state` fixture points KG_STATE_DIR at."""
    return tmp_path / "state" / "kg.sqlite3"


def kg(*args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=answer, catch_exceptions=False)


def fill(store_file: Path, cached: int) -> None:
    """Two registered models and ``cached`` cached answers, as a store in use holds."""
    register_model("gpu0", "http://gpu0:8000", model="m0")
    register_model("gpu1", "http://gpu1:8000", model="m1", active=False)
    engine = create_engine(f"sqlite:///{store_file}")
    rows = [
        {"key": f"{n:064x}", "provider_kind": "vllm", "model": "m0", "prompt_version": "v",
         "extraction_json": "{}", "stats_json": '{"wall_seconds": 1.0}',
         "created_at": dt.datetime.now(dt.UTC)}
        for n in range(cached)
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(sa.insert(response_cache), rows)
    engine.dispose()


def test_a_zero_byte_store_is_an_error_naming_the_file_and_the_fix(store_file: Path) -> None:
    store_file.parent.mkdir(parents=True)
    store_file.touch()
    with pytest.raises(StoreUnusable) as failure:
        ConfigStore()
    message = str(failure.value)
    assert str(store_file) in message and "is empty (0 bytes)" in message
    assert "Restore it from a backup" in message and "`kg admin store reset`" in message
    assert store_file.stat().st_size == 0  # not rebuilt behind the user's back


def test_a_store_truncated_after_use_is_reported_not_rebuilt_with_the_embedded_model(
    store_file: Path,
) -> None:
    fill(store_file, cached=174)
    store_file.write_bytes(b"")  # a full disk, a bad copy
    result = kg("admin", "extraction", "show", "--all")
    assert result.exit_code == 1
    assert str(store_file) in result.output and "kg admin store reset" in result.output
    assert "Traceback" not in result.output
    assert store_file.stat().st_size == 0  # no new store, so no embedded model made active


def test_a_file_that_is_not_a_database_is_named_as_such(store_file: Path) -> None:
    store_file.parent.mkdir(parents=True)
    store_file.write_text("registrations: see the wiki\n", encoding="utf-8")
    with pytest.raises(StoreUnusable, match="is not a SQLite database"):
        ConfigStore()


def test_a_damaged_database_is_named_as_damaged(store_file: Path) -> None:
    fill(store_file, cached=3)
    data = bytearray(store_file.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, past the 100-byte file header
    damaged = store_file.with_name("damaged.sqlite3")  # a file this process has not migrated
    damaged.write_bytes(bytes(data))
    with pytest.raises(StoreUnusable, match="is damaged"):
        create_engine(f"sqlite:///{damaged}")


def test_a_missing_store_is_created_as_a_database(store_file: Path) -> None:
    assert not store_file.exists()
    registered = ensure_registered(ConfigStore())
    assert store_file.read_bytes()[:16] == HEADER
    assert [c.active for c in registered] == [True]


def test_reset_asks_first_and_a_no_leaves_the_store_as_it_was(store_file: Path) -> None:
    store_file.parent.mkdir(parents=True)
    store_file.touch()
    result = kg("admin", "store", "reset", answer="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert store_file.stat().st_size == 0
    assert list(store_file.parent.iterdir()) == [store_file]


def test_reset_keeps_the_old_file_beside_a_new_empty_store(store_file: Path) -> None:
    fill(store_file, cached=5)
    before = store_file.read_bytes()
    result = kg("admin", "store", "reset", "--yes")
    assert result.exit_code == 0, result.output
    kept = [p for p in store_file.parent.iterdir() if p.name.endswith(".bak")]
    assert len(kept) == 1 and kept[0].read_bytes() == before
    assert store_file.read_bytes()[:16] == HEADER
    assert ConfigStore().list() == []
    engine = create_engine(f"sqlite:///{kept[0]}")
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(response_cache)).scalar()
    engine.dispose()


def test_reset_of_a_database_server_is_refused_without_showing_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KG_DATABASE_URL", "postgresql+psycopg2://kg:hunter22@127.0.0.1:9/kg")
    result = kg("admin", "store", "reset", "--yes")
    assert result.exit_code == 1 and "not a SQLite file" in result.output
    assert "hunter22" not in result.output
