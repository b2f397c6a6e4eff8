"""The deployment path: the real `dagster-webserver` and `dagster-daemon` as separate processes,
a run submitted through the GraphQL API and carried out by the daemon's run queue.

In-process `dg.materialize` never touches the run coordinator, the daemon or the code servers
they start; this is the one test that does, so a broken `dagster.yaml`, a definitions module that
only loads in-process, or a run config the webserver rejects shows up here first.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from kg_pipeline.defs.registry import MODEL_PARTITIONS
from tests.conftest import free_port
from tests.models import register_model
from tests.stand_in_server import EMPTY_EXTRACTION, StandInServer

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHAT = "/v1/chat/completions"
MODEL = "stand-in"
RUN_LIFECYCLE = [
    dg.DagsterEventType.RUN_ENQUEUED,
    dg.DagsterEventType.RUN_STARTING,
    dg.DagsterEventType.RUN_START,
    dg.DagsterEventType.RUN_SUCCESS,
]


def _tail(log: Path, chars: int = 3000) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return f"--- {log.name} ---\n{text[-chars:]}"


@contextmanager
def _service(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A dagster service in a session of its own: it ignores signals otherwise (see
    CONVENTIONS.md), and the whole group — code servers and run workers it started included —
    is stopped when the test ends, however it ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue


def _wait_for_webserver(port: int, process: subprocess.Popen[bytes], logs: list[Path]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the webserver exited ({process.returncode})\n" + _tail(logs[0]))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail("the webserver never answered /server_info\n" + "\n".join(map(_tail, logs)))


def _wait_for_run(
    client: DagsterGraphQLClient, run_id: str, logs: list[Path]
) -> dg.DagsterRunStatus:
    finished = {
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    }
    deadline = time.monotonic() + 240
    status = client.get_run_status(run_id)
    while status not in finished:
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} still {status.value}\n" + "\n".join(map(_tail, logs)))
        time.sleep(1)
        status = client.get_run_status(run_id)
    return status


def test_a_run_submitted_to_the_webserver_is_dequeued_and_run_by_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    (corpus / "tea.md").write_text("Green tea contains caffeine.", encoding="utf-8")
    (corpus / "coffee.md").write_text("Coffee is brewed from roasted beans.", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # The services share the test's config store (KG_STATE_DIR) and results folder; nothing
    # may send them to the cloud baseline or re-seed the store from an endpoints file.
    for name in ("OPENAI_API_KEY", "KG_ENDPOINTS_FILE", "KG_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    env = dict(os.environ)
    port = free_port()
    logs = [tmp_path / "webserver.log", tmp_path / "daemon.log"]
    webserver = [str(BIN / "dagster-webserver"), "-m", "kg_pipeline.definitions",
                 "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    daemon = [str(BIN / "dagster-daemon"), "run", "-m", "kg_pipeline.definitions"]

    with (
        StandInServer() as server,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        server.reply("POST", CHAT, EMPTY_EXTRACTION)
        register_model(MODEL, server.base_url)
        instance.add_dynamic_partitions(MODEL_PARTITIONS, [MODEL])
        # dagster_home/dagster.yaml names no run coordinator: the instance default must queue
        # runs, or the daemon below would not be what runs them.
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)

        with (
            _service(webserver, logs[0], env) as web_process,
            _service(daemon, logs[1], env),
        ):
            _wait_for_webserver(port, web_process, logs)
            client = DagsterGraphQLClient("127.0.0.1", port_number=port)
            run_id = client.submit_job_execution(
                job_name="extraction_job",
                run_config={
                    "ops": {"documents": {"config": {"corpus_dir": str(corpus.parent)}}},
                    # One process for the steps: a process per step costs ~10 s each on these
                    # 2 cores, and the queue, daemon and run worker are what is under test.
                    "execution": {"config": {"in_process": {}}},
                },
                tags={"dagster/partition": MODEL},
            )
            status = _wait_for_run(client, run_id, logs)
            assert status == dg.DagsterRunStatus.SUCCESS, "\n".join(map(_tail, logs))

        run = instance.get_run_by_id(run_id)
        assert run is not None
        assert (run.job_name, run.status) == ("extraction_job", dg.DagsterRunStatus.SUCCESS)
        assert run.tags["dagster/partition"] == MODEL
        # The webserver only enqueues (QueuedRunCoordinator); the run starting afterwards is
        # the daemon's doing, and the daemon reported its queue coordinator alive.
        lifecycle = [
            event.dagster_event.event_type
            for event in instance.all_logs(run_id, of_type=set(RUN_LIFECYCLE))
            if event.dagster_event
        ]
        assert lifecycle == RUN_LIFECYCLE
        assert "QUEUED_RUN_COORDINATOR" in instance.get_daemon_heartbeats()
        assert instance.get_materialized_partitions(dg.AssetKey("extractions")) == {MODEL}

    chats = [r for r in server.requests if r.method == "POST" and r.path == CHAT]
    assert len(chats) == 2  # one chunk per short document
    records = (tmp_path / "results" / "extractions" / f"{MODEL}.jsonl").read_text().splitlines()
    assert len(records) == 2
