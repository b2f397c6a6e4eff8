"""A killed `kg run` never blocks the next one, and a run waiting for a live run's slot says so
and stops on Ctrl-C. The real `kg` CLI in processes of its own, on a Dagster instance in SQLite
files (the project's dagster.yaml: `model_endpoints` has one slot), against a loopback server
speaking the OpenAI API that takes a while per chunk, like a model decoding."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import dagster as dg
import pytest
import sqlalchemy as sa

from kg_pipeline.store.database import create_engine, response_cache
from tests.stand_in_server import Reply, StandInServer, chat_completion

REPO = Path(__file__).resolve().parents[2]
KG = str(Path(sys.executable).with_name("kg"))
CHAT = "/v1/chat/completions"
MODEL = "slow"
STEP_POOL = "model_endpoints"
DOCUMENTS = 20
CLI_SECONDS = 180  # a `kg` command's start and run on a busy 2-core machine, with room to spare


@dataclass
class Setup:
    server: StandInServer
    env: dict[str, str]
    home: Path
    corpus: Path
    cwd: Path

    def kg_run(self, log: Path) -> tuple[subprocess.Popen[str], IO[str]]:
        out = log.open("w")
        process = subprocess.Popen(
            [KG, "run", "--model", MODEL, "--corpus", str(self.corpus)],
            env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        return process, out

    def chats(self) -> int:
        return sum(1 for r in self.server.requests if r.path == CHAT)


@contextmanager
def setup_for(tmp_path: Path, chunk_seconds: float) -> Iterator[Setup]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    notes = tmp_path / "corpus" / "notes"
    notes.mkdir(parents=True)
    for n in range(DOCUMENTS):  # each a chunk of its own, each a request of its own
        (notes / f"note{n:02}.md").write_text(f"Note {n}: a canal lock raises boats.")
    env = os.environ | {"DAGSTER_HOME": str(home), "NO_COLOR": "1"}
    for name in ("OPENAI_API_KEY", "KG_DATABASE_URL", "KG_ENDPOINTS_FILE"):
        env.pop(name, None)
    extraction = {
        "concepts": [{"concept_id": "concept_001", "label": "canal lock", "description": "",
                      "search_terms": []}],
        "instances": [{"concept_id": "concept_001", "quote": "canal lock"}],
        "relationships": [],
    }  # fmt: skip
    with StandInServer() as server:
        server.reply("GET", "/v1/models", Reply(body={"object": "list", "data": [{"id": "m"}]}))
        server.reply("POST", CHAT, chat_completion(json.dumps(extraction), delay=chunk_seconds))
        subprocess.run(
            [KG, "admin", "extraction", "set", "--provider", "vllm", "--model", "m", "--name",
             MODEL, "--base-url", server.base_url, "--max-concurrent-requests", "1"],
            env=env, cwd=tmp_path, check=True, capture_output=True, timeout=CLI_SECONDS,
        )  # fmt: skip
        yield Setup(server, env, home, notes.parent, tmp_path)


def wait_until(done: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + CLI_SECONDS
    while not done():
        assert process.poll() is None, f"`kg run` exited ({process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def claims(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """pool -> the runs holding or queued for its slots."""
    storage = instance.event_log_storage
    return {
        key: {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}
        for key, info in storage.get_concurrency_infos(
            sorted(storage.get_concurrency_keys())
        ).items()
    }


def only_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    runs = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(statuses=[status]))]
    assert len(runs) == 1, runs
    return runs[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_a_killed_run_is_failed_its_slots_freed_and_the_next_run_finishes_from_the_cache(
    tmp_path: Path,
) -> None:
    with setup_for(tmp_path, chunk_seconds=0.5) as setup:
        first, first_log = setup.kg_run(tmp_path / "first.log")
        try:
            wait_until(lambda: setup.chats() >= 4, "reached its fourth chunk", first)
        finally:
            first.kill()
            first.wait()
            first_log.close()
        asked_first = setup.chats()
        with dg.DagsterInstance.from_config(str(setup.home)) as instance:
            killed = only_run(instance, dg.DagsterRunStatus.STARTED)
            held = claims(instance)
        # What used to block every later run: the dead run keeps the step pool's only slot and
        # its request's slot of the server's pool.
        server_pool = next(key for key in held if key.startswith("kg-endpoint/"))
        assert killed.run_id in held[STEP_POOL] and killed.run_id in held[server_pool]
        with create_engine().connect() as db:
            cached = db.execute(sa.select(sa.func.count()).select_from(response_cache)).scalar()
        assert cached is not None and 1 <= cached <= asked_first

        began = time.monotonic()
        second, second_log = setup.kg_run(tmp_path / "second.log")
        try:
            code = second.wait(timeout=CLI_SECONDS)
        finally:
            second.kill()
            second_log.close()
        seconds = time.monotonic() - began
        output = (tmp_path / "second.log").read_text()
        assert code == 0, output[-3000:]
        asked_second = setup.chats() - asked_first

        with dg.DagsterInstance.from_config(str(setup.home)) as instance:
            failed = instance.get_run_by_id(killed.run_id)
            assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
            (failure,) = instance.all_logs(killed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert f"(pid {killed.tags['kg/pid']} on " in (failure.message or "")
            assert "is gone" in (failure.message or "")
            succeeded = only_run(instance, dg.DagsterRunStatus.SUCCESS)
            assert all(not runs for runs in claims(instance).values()), claims(instance)
        process = f"pid {killed.tags['kg/pid']} on {killed.tags['kg/host']}"
        assert f"run {killed.run_id} ({process}, now gone) marked failed; freed its " in output
        assert f"✓ run {succeeded.run_id} succeeded" in output

    # Chunks answered before the kill come from the response cache; only the rest are asked.
    assert asked_second == DOCUMENTS - cached
    records_file = tmp_path / "results" / "extractions" / f"{MODEL}.jsonl"
    records = [json.loads(line) for line in records_file.read_text().splitlines()]
    assert [r["status"] for r in records] == ["valid"] * DOCUMENTS
    assert sum(bool(r["stats"]["cached"]) for r in records) == cached
    print(
        f"\nkilled after {asked_first} requests ({cached} answered); the next run: exit {code} in "
        f"{seconds:.1f} s, {asked_second} requests, {cached} from the cache"
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_run_waiting_for_a_live_runs_slot_names_it_and_stops_when_asked(
    tmp_path: Path, stop: signal.Signals
) -> None:
    with setup_for(tmp_path, chunk_seconds=2.0) as setup:
        first, first_log = setup.kg_run(tmp_path / "first.log")
        try:
            wait_until(lambda: setup.chats() >= 1, "sent its first chunk", first)
            with dg.DagsterInstance.from_config(str(setup.home)) as instance:
                holder = only_run(instance, dg.DagsterRunStatus.STARTED)
            second, second_log = setup.kg_run(tmp_path / "second.log")
            log = tmp_path / "second.log"
            try:
                wait_until(lambda: "waiting for a slot" in log.read_text(), "waited", second)
                cpu_before, since = cpu_seconds(second.pid), time.monotonic()
                time.sleep(3)
                cpu_share = (cpu_seconds(second.pid) - cpu_before) / (time.monotonic() - since)
                stopped_at = time.monotonic()
                second.send_signal(stop)
                code = second.wait(timeout=30)
                stop_seconds = time.monotonic() - stopped_at
            finally:
                second.kill()
                second_log.close()
            with dg.DagsterInstance.from_config(str(setup.home)) as instance:
                left = claims(instance)[STEP_POOL]
                runs = instance.get_run_records()
        finally:
            first.kill()
            first.wait()
            first_log.close()

    output = log.read_text()
    assert (
        f"waiting for a slot of pool {STEP_POOL}: its 1 slot(s) held by run {holder.run_id} "
        f"(extraction_job, started, `kg` pid {first.pid} on "
    ) in output
    assert code == 130, output[-3000:]
    assert f"stopped while waiting for a slot of pool {STEP_POOL}" in output
    assert "nothing ran" in output
    # The waiting run withdrew its place in the queue and never started a run.
    assert left == {holder.run_id}
    assert [r.dagster_run.run_id for r in runs] == [holder.run_id]
    # Asleep between polls: Dagster's own wait kept two thirds of a core busy.
    assert cpu_share < 0.25, cpu_share
    print(f"\nwaiting: {cpu_share:.1%} of a core; stopped {stop_seconds:.2f} s after {stop.name}")
