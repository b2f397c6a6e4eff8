"""Endpoint pools (kg_pipeline/defs/pools.py) on real Dagster instances, SQLite and PostgreSQL.

The limit is measured where it matters: a loopback server counts, on its own side, how many
requests it holds at once, while runs in separate OS processes claim slots through the same
instance. Nothing of ours is faked: the instance, its storage and the HTTP calls are real.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.pools import (
    InstancePool,
    endpoint_slot,
    ensure_pool_limit,
    pool_key,
)
from kg_pipeline.middleware.pooled import PooledProvider
from kg_pipeline.providers import EndpointSettings, ProviderUnavailable, create_provider
from tests.models import materialize_partition, register_model
from tests.pool_client import FAST, LIMIT, REQUESTS_PER_RUN, probe
from tests.postgres import Postgres
from tests.stand_in_server import EMPTY_EXTRACTION, Reply, StandInServer

REPO = Path(__file__).resolve().parents[2]
CHAT = "/v1/chat/completions"
ANSWER = json.dumps(EMPTY_EXTRACTION.body).encode()


class LoadServer:
    """An OpenAI-compatible server that answers after ``delay`` seconds and records, on its own
    side, each request's tag (``probe <tag>`` in the prompt), arrival and departure, and the most
    requests it held at once. ``during`` runs while a request is held (reading the pool then)."""

    def __init__(self, delay: float, during: Callable[[], Any] | None = None) -> None:
        self.delay = delay
        self.in_flight = 0
        self.peak_in_flight = 0
        self.spans: list[tuple[str, float, float]] = []  # (tag, arrived, left), time.time()
        self.seen_during: list[Any] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                found = re.search(r"probe ([\w-]+)", body.decode())
                arrived = server._arrive()
                if during is not None:
                    server.seen_during.append(during())
                time.sleep(server.delay)
                # Counted out before answering: once the client has the answer it may free its
                # slot and another request may come, which must not find this one still counted.
                server._leave(found.group(1) if found else "?", arrived)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(ANSWER)))
                self.end_headers()
                self.wfile.write(ANSWER)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def _arrive(self) -> float:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return time.time()

    def _leave(self, tag: str, arrived: float) -> None:
        with self._lock:
            self.in_flight -= 1
            self.spans.append((tag, arrived, time.time()))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> LoadServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def sqlite_home(tmp_path: Path) -> Path:
    """The project's own instance configuration (SQLite storage in the folder, pools with a
    default limit of 1), in a folder of the test's own."""
    home = tmp_path / "dagster_sqlite"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


def postgres_home(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """compose/dagster.yaml as deployed, on a fresh database of the session's PostgreSQL server;
    the connection comes from DAGSTER_PG_*, which child processes inherit."""
    url = sa.make_url(postgres.new_database())
    for name, value in (("HOST", url.host), ("PORT", url.port), ("USER", url.username),
                        ("PASSWORD", ""), ("DB", url.database)):  # fmt: skip
        monkeypatch.setenv(f"DAGSTER_PG_{name}", str(value))
    home = tmp_path / "dagster_postgres"
    home.mkdir()
    shutil.copy(REPO / "compose" / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.fixture(params=["sqlite", "postgresql"])
def instance_home(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home: Path = (
        request.getfixturevalue("sqlite_home")
        if request.param == "sqlite"
        else postgres_home(request.getfixturevalue("postgres"), tmp_path, monkeypatch)
    )
    # The instance exists before any run uses it, as in a deployment: two processes creating
    # its tables at once trip over each other (alembic sees two heads).
    with dg.DagsterInstance.from_config(str(home)):
        return home


# -- runs in processes of their own ------------------------------------------------------------


def start_client(home: Path, base_url: str, tag: str, folder: Path) -> subprocess.Popen[str]:
    args = (str(home), base_url, tag, str(folder / f"ready-{tag}"), str(folder / "go"))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pool_client", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_runs_in_two_processes_never_hold_more_requests_at_a_server_than_its_pool_limit(
    instance_home: Path, tmp_path: Path
) -> None:
    with LoadServer(delay=0.3) as server:
        clients = [start_client(instance_home, server.base_url, tag, tmp_path) for tag in "ab"]
        try:
            deadline = time.monotonic() + 120
            while not all((tmp_path / f"ready-{tag}").exists() for tag in "ab"):
                assert all(c.poll() is None for c in clients), "a client process died"
                assert time.monotonic() < deadline, "the client processes did not get ready"
                time.sleep(0.02)
            started = time.time()
            (tmp_path / "go").touch()
            outputs = [c.communicate(timeout=120) for c in clients]
            wall = time.time() - started
        except BaseException:
            for client in clients:
                if client.poll() is None:
                    client.kill()
                print(client.communicate()[1][-3000:], file=sys.stderr)
            raise

    for client, (out, err) in zip(clients, outputs, strict=True):
        assert client.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1]) == [True] * REQUESTS_PER_RUN
    spans = server.spans
    assert sorted(tag for tag, _, _ in spans) == sorted(
        f"{t}-{n}" for t in "ab" for n in range(REQUESTS_PER_RUN)
    )
    # 2 runs x 4 requests at once, against a pool of 2: the server never holds more than 2...
    assert server.peak_in_flight == LIMIT, server.spans
    # ...and that is the pool's doing, not the runs taking turns: their requests overlapped.
    assert any(
        ta[0] != tb[0] and a0 < b1 and b0 < a1 for ta, a0, a1 in spans for tb, b0, b1 in spans
    ), "the two runs never had requests at the server at the same time"
    # 8 requests of 0.3 s through 2 slots keep the server busy at least 4 x 0.3 s.
    busy = max(left for _, _, left in spans) - min(arrived for _, arrived, _ in spans)
    assert busy >= 4 * 0.3
    print(
        f"\n{instance_home.name}: peak {server.peak_in_flight} in flight (limit {LIMIT}), "
        f"{len(spans)} requests; server busy {busy:.2f} s (ideal 1.20), {wall:.2f} s from go "
        "to both processes exited"
    )
    with dg.DagsterInstance.from_config(str(instance_home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(pool_key(server.base_url))
    assert info.limit == LIMIT
    assert info.claimed_slots == [] and info.pending_steps == []


# -- limits --------------------------------------------------------------------------------------


def test_a_pools_limit_follows_the_slots_and_an_operators_limit_holds_until_they_change(
    sqlite_home: Path,
) -> None:
    key = pool_key("http://gpu-0:11434/v1")
    assert key == "kg-endpoint/gpu-0:11434"
    with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
        storage = instance.event_log_storage
        # Before any run the pool has the instance's default (dagster.yaml: 1), nobody's choice.
        assert storage.get_concurrency_info(key).using_default_limit
        assert ensure_pool_limit(instance, key, 4) == 4
        assert storage.get_concurrency_info(key).limit == 4
        # `dagster instance concurrency set kg-endpoint/gpu-0:11434 2` does exactly this:
        storage.set_concurrency_slots(key, 2)
        assert ensure_pool_limit(instance, key, 4) == 2
        assert storage.get_concurrency_info(key).limit == 2
        # The slots change (`kg admin extraction set`): the most recent change wins.
        assert ensure_pool_limit(instance, key, 6) == 6
        assert storage.get_concurrency_info(key).limit == 6


def test_an_operators_limit_set_before_the_first_run_is_kept(sqlite_home: Path) -> None:
    key = pool_key("http://gpu-1:8000")
    with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
        instance.event_log_storage.set_concurrency_slots(key, 1)
        assert ensure_pool_limit(instance, key, 4) == 1
        assert ensure_pool_limit(instance, key, 4) == 1
        assert ensure_pool_limit(instance, key, 3) == 3


# -- slots are given back ------------------------------------------------------------------------


def test_a_failed_call_gives_its_slot_back(sqlite_home: Path) -> None:
    with (
        StandInServer() as server,
        dg.DagsterInstance.from_config(str(sqlite_home)) as instance,
    ):
        server.reply("POST", CHAT, Reply(500, {"error": "CUDA out of memory"}))
        settings = EndpointSettings(
            name="gpu", provider="vllm", base_url=server.base_url, model="m", max_retries=0
        )
        key = pool_key(server.base_url)
        ensure_pool_limit(instance, key, 1)
        provider = PooledProvider(
            create_provider(settings), InstancePool(instance, key, "run-1", "extractions", FAST)
        )

        async def twice() -> list[BaseException | Any]:
            # With one slot, the second call could never start if the first kept it.
            calls = [provider.extract(probe(str(n)), {}) for n in range(2)]
            return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)

        outcomes = asyncio.run(twice())
        info = instance.event_log_storage.get_concurrency_info(key)
    assert all(isinstance(o, ProviderUnavailable) for o in outcomes), outcomes
    assert len([r for r in server.requests if r.path == CHAT]) == 2
    assert info.claimed_slots == [] and info.pending_steps == []


def test_a_request_cancelled_while_waiting_for_a_slot_leaves_no_claim_behind(
    sqlite_home: Path,
) -> None:
    key = "kg-endpoint/gpu-2:11434"
    with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
        ensure_pool_limit(instance, key, 1)

        async def scenario() -> tuple[int, int]:
            async with endpoint_slot(instance, key, "run-1", "extractions", FAST):
                waiter = asyncio.create_task(
                    asyncio.wait_for(
                        endpoint_slot(instance, key, "run-2", "x", FAST).__aenter__(), 0.5
                    )
                )
                with pytest.raises(TimeoutError):
                    await waiter
                info = instance.event_log_storage.get_concurrency_info(key)
                return len(info.claimed_slots), len(info.pending_steps)

        held, pending_while_held = asyncio.run(scenario())
        info = instance.event_log_storage.get_concurrency_info(key)
    # While the first request held the one slot: its claim (a claim keeps its pending row while
    # held), and nothing left queued by the waiter that gave up.
    assert (held, pending_while_held) == (1, 1)
    assert info.claimed_slots == [] and info.pending_steps == []


# -- wired into the extractions asset ------------------------------------------------------------


def corpus_config(tmp_path: Path, notes: int) -> dg.RunConfig:
    folder = tmp_path / "corpus" / "notes"
    folder.mkdir(parents=True)
    for n in range(notes):
        (folder / f"n{n}.md").write_text(f"Note {n}: a canal lock raises boats.", encoding="utf-8")
    return dg.RunConfig(ops={"documents": DocumentsConfig(corpus_dir=str(folder.parent))})


def test_each_extraction_request_holds_a_slot_of_its_servers_pool(
    sqlite_home: Path, tmp_path: Path
) -> None:
    run_config = corpus_config(tmp_path, notes=6)
    with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
        keys: list[str] = []

        def claims() -> dict[str, list[tuple[str, str]]]:
            infos = instance.event_log_storage.get_concurrency_infos(keys)
            return {k: [(s.run_id, s.step_key) for s in i.claimed_slots] for k, i in infos.items()}

        with LoadServer(0.1, during=claims) as gpu0, LoadServer(0.1, during=claims) as gpu1:
            keys += [pool_key(gpu0.base_url), pool_key(gpu1.base_url)]
            register_model(
                "fleet", gpu0.base_url, max_concurrent_requests=3,
                options={"replicas": [{"base_url": gpu1.base_url, "slots": 2}]},
            )  # fmt: skip
            result = materialize_partition(
                [documents, chunks, extractions], "fleet", run_config, instance
            )
        infos = instance.event_log_storage.get_concurrency_infos(keys)
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert result.success
    # The limits come from the slots: the model's own server 3, its replica 2.
    assert [infos[k].limit for k in keys] == [3, 2]
    assert any(f"pool {keys[0]}: limit 3" in m for m in messages)
    # While a server answered, its own pool held a slot for each request of the run's
    # extractions step that it had in hand: at least this one, never more than its slots.
    assert len(gpu0.seen_during + gpu1.seen_during) == 6
    for server, key, limit in ((gpu0, keys[0], 3), (gpu1, keys[1], 2)):
        for held in server.seen_during:
            assert 1 <= len(held[key]) <= limit
            assert all(run_id == result.run_id for run_id, _ in held[key])
            assert all(step.startswith(f"extractions[{key} ") for _, step in held[key])
    assert all(infos[k].claimed_slots == [] and infos[k].pending_steps == [] for k in keys)


def test_an_instance_without_pool_tables_runs_unpooled_and_says_so_once(
    tmp_path: Path, dagster_instance: dg.DagsterInstance
) -> None:
    run_config = corpus_config(tmp_path, notes=2)
    with StandInServer() as server:
        server.reply("POST", CHAT, EMPTY_EXTRACTION)
        register_model("solo", server.base_url)
        result = materialize_partition(
            [documents, chunks, extractions], "solo", run_config, dagster_instance
        )
    messages = [e.user_message for e in dagster_instance.all_logs(result.run_id)]
    assert result.success
    assert len([r for r in server.requests if r.path == CHAT]) == 2
    said = [m for m in messages if "endpoint pools off" in m]
    assert len(said) == 1 and "in memory" in said[0]


def test_pools_need_a_real_server_address() -> None:
    with pytest.raises(ValueError, match="names no server"):
        pool_key("http:///v1")
