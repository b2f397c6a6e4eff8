"""`kg local …` and the embedded model's registration, as a user runs them: a cached build is
reused, a missing one is named with the command that builds it, and a model registered at the
embedded server's address takes that server's slots and wait, not the generic defaults."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.main import main
from kg_pipeline.serving.local_model import MODEL_ALIAS
from kg_pipeline.serving.local_server import DEFAULT_SLOTS, REQUEST_TIMEOUT_SECONDS
from kg_pipeline.store.config import ConfigStore
from tests.unit.test_llama_build import fake_build

ROOT = Path(__file__).resolve().parents[2]


def kg(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_kg_local_build_reuses_a_cached_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KG_CACHE_DIR", str(tmp_path))
    fake_build(tmp_path / "llama.cpp")
    result = kg("local", "build")
    assert result.exit_code == 0 and "already built" in result.output, result.output


def test_kg_local_start_without_a_build_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KG_CACHE_DIR", str(tmp_path))
    result = kg("local", "start", "--port", "9")
    assert result.exit_code == 1 and "run `kg local build`" in result.output, result.output


def test_a_model_registered_at_the_embedded_server_takes_its_slots_and_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    embedded = kg("admin", "extraction", "set", "--provider", "llamacpp", "--model", MODEL_ALIAS,
                  "--skip-check")  # fmt: skip
    elsewhere = kg("admin", "extraction", "set", "--provider", "llamacpp", "--model", "other",
                   "--base-url", "http://127.0.0.1:9", "--skip-check")  # fmt: skip
    assert embedded.exit_code == 0 and elsewhere.exit_code == 0, embedded.output + elsewhere.output
    store = ConfigStore()
    local = store.get(f"local-{MODEL_ALIAS}")
    assert local.max_concurrent_requests == DEFAULT_SLOTS  # was 4: twice the server's slots
    assert local.options.timeout_seconds == REQUEST_TIMEOUT_SECONDS  # was 300 s
    other = store.get("local-other")  # another server: nothing known about it, generic defaults
    assert other.max_concurrent_requests == 4 and other.options.timeout_seconds == 300
