import socket
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from kg_pipeline.serving.local_server import LocalServer
from tests.postgres import Postgres, start_postgres, stop_postgres

# The streaming stand-in server and its one-note corpus, as fixtures of the serving tests.
pytest_plugins = ["tests.streaming_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real embedded llama.cpp server on a port of its own, shared by the real-model tests
    (loading the model costs seconds; each extraction costs tens of seconds on 2 CPU cores)."""
    server = LocalServer(port=free_port(), state_dir=Path(tmp_path_factory.mktemp("llama")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own database (response cache) and result folder: nothing a test stores
    can answer another test's model call."""
    monkeypatch.setenv("KG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("KG_DATABASE_URL", raising=False)
    monkeypatch.setenv("KG_RESULTS_DIR", str(tmp_path / "results"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of the session's own (started on first use, seconds)."""
    server = start_postgres(free_port())
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance, closed after the test (an instance left open stays the
    process's current one after it is gone, and the next definitions load trips over it)."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture(autouse=True)
def no_stale_dagster_instance() -> Iterator[None]:
    """Dagster keeps the last opened instance's state storage in a context variable, which can
    outlive the instance (a schedule context built in one test, say); a definitions load in a
    later test then fails on the dead reference. Each test starts without one."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
