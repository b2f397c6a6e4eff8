"""Runs whose process is gone (kg_pipeline/defs/run_recovery.py) on a real SQLite Dagster instance:
the daemon's sensor marks them failed and frees their slots, a live process's run is left alone,
and a request waiting behind a dead run's slot gets it.

The dead processes are real: a child process started, identified while alive, then killed."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from kg_pipeline.defs.pools import Backoff, endpoint_slot
from kg_pipeline.defs.run_recovery import (
    ProcessIdentity,
    killed_runs_sensor,
    recover_dead_runs,
    waiting_marker,
)

REPO = Path(__file__).resolve().parents[2]
STEP_POOL = "model_endpoints"
SERVER_POOL = "kg-endpoint/127.0.0.1:9"


@dg.op(pool=STEP_POOL)
def extract() -> None:
    """Stands for the extractions step: a step in the step pool."""


@dg.job
def tiny_job() -> None:
    extract()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """The project's dagster.yaml on SQLite files of the test's own."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as opened:
        opened.event_log_storage.set_concurrency_slots(STEP_POOL, 1)
        opened.event_log_storage.set_concurrency_slots(SERVER_POOL, 1)
        yield opened


def dead_process() -> ProcessIdentity:
    """A process that existed, identified while it ran, then killed and reaped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = ProcessIdentity.of(child.pid)
    finally:
        child.kill()
        child.wait()
    assert identity is not None
    return identity


def started_run(instance: dg.DagsterInstance, process: ProcessIdentity) -> str:
    """A run of ``process`` that started and took a slot of both pools, as `kg run` does."""
    run = instance.create_run_for_job(tiny_job, tags=process.tags())
    start = dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=run.job_name)
    instance.report_dagster_event(start, run_id=run.run_id)
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot(STEP_POOL, run.run_id, "extract").is_claimed
    claim = f"extract[{SERVER_POOL} 0a1b2c3d]"
    assert storage.claim_concurrency_slot(SERVER_POOL, run.run_id, claim).is_claimed
    return run.run_id


def holders(instance: dg.DagsterInstance, pool: str) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(pool)
    return {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_the_sensor_fails_a_run_whose_process_is_gone_and_frees_its_slots(
    instance: dg.DagsterInstance,
) -> None:
    process = dead_process()
    run_id = started_run(instance, process)
    assert status(instance, run_id) == dg.DagsterRunStatus.STARTED

    result = killed_runs_sensor(dg.build_sensor_context(instance=instance))

    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "recovered 1 run(s) whose process is gone (see the log)"
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert len(failure) == 1
    message = failure[0].message
    assert f"({process}) is gone" in message and "the killed_runs_sensor" in message
    assert holders(instance, STEP_POOL) == holders(instance, SERVER_POOL) == set()
    # Nothing left to do on the next evaluation.
    again = killed_runs_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(again, dg.SkipReason)
    assert again.skip_message == "every unfinished `kg` run's process is alive"


def test_a_run_whose_process_is_alive_or_elsewhere_is_left_alone(
    instance: dg.DagsterInstance,
) -> None:
    here = ProcessIdentity.current()
    live = started_run(instance, here)
    # A dead pid, but of another container: nothing here can tell whether it lives.
    elsewhere = ProcessIdentity("other-host", "linux:other-boot:1", 4_000_000, "1")
    instance.event_log_storage.free_concurrency_slots_for_run(live)
    other = started_run(instance, elsewhere)

    assert recover_dead_runs(instance, by="the test") == []
    assert status(instance, live) == status(instance, other) == dg.DagsterRunStatus.STARTED
    assert holders(instance, STEP_POOL) == {other}


def test_a_reused_pid_does_not_pass_for_the_runs_process() -> None:
    here = ProcessIdentity.current()
    assert not here.is_gone()
    # This pid, but a process that started at another time: the run's process is gone.
    earlier = ProcessIdentity(here.host, here.namespace, here.pid, str(int(here.started) - 1))
    assert earlier.is_gone()
    assert dead_process().is_gone()


def test_the_queue_place_of_a_command_killed_before_its_run_started_is_freed(
    instance: dg.DagsterInstance,
) -> None:
    """A `kg run` waiting for its step slot has a queued claim and no run yet; killed there, its
    place in the queue would later be handed the slot, and nobody would take it."""
    storage = instance.event_log_storage
    holder = started_run(instance, ProcessIdentity.current())
    for run_id, process in (("never-started-dead", dead_process()), ("waiting-alive", None)):
        marker = waiting_marker(run_id, process or ProcessIdentity.current())
        instance.run_storage.set_cursor_values(marker)
        assert not storage.claim_concurrency_slot(STEP_POOL, run_id, "extract").is_claimed

    found = recover_dead_runs(instance, by="the test")

    assert [(r.run_id, r.outcome, r.pools) for r in found] == [
        ("never-started-dead", "never started", (STEP_POOL,))
    ]
    assert holders(instance, STEP_POOL) == {holder, "waiting-alive"}


def test_a_request_waiting_behind_a_dead_runs_slot_gets_it(
    instance: dg.DagsterInstance,
) -> None:
    dead = started_run(instance, dead_process())
    live = instance.create_run_for_job(tiny_job, tags=ProcessIdentity.current().tags())

    async def one_request() -> str:
        backoff = Backoff(first=0.05, most=0.2, recover_every=0.5)
        async with endpoint_slot(instance, SERVER_POOL, live.run_id, "extract", backoff) as key:
            return key

    # Before recovery while waiting, the dead run's slot was never freed: this timed out.
    claim_key = asyncio.run(asyncio.wait_for(one_request(), timeout=60))

    assert claim_key.startswith(f"extract[{SERVER_POOL} ")
    assert status(instance, dead) == dg.DagsterRunStatus.FAILURE
    assert holders(instance, SERVER_POOL) == set()
