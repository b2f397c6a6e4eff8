"""Runs whose process is gone: marked failed, their pool slots freed, so the next run proceeds.

`kg run` and `kg ingest` run their job inside the `kg` process (``execute_in_process``). When that
process is killed (SIGKILL, the OOM killer, a closed laptop lid on a remote shell) nothing reports
the run's end: it stays STARTED for ever and keeps its slots of ``model_endpoints`` and of the
``kg-endpoint/...`` pools, and every later run waits behind it.

Dagster's run monitoring does not cover these runs. Its daemon judges a STARTED run only through
the run launcher's worker health check, and the default launcher has none (its
``supports_check_run_worker_health`` is False); nor did any launcher start an in-process run.
``free_slots_after_run_end_seconds`` frees slots only of runs that have *ended*, which a killed
in-process run never does. So each such run carries the identity of its process in its tags
(``kg/host``, ``kg/pid``, ``kg/process``: the boot and pid namespace the pid belongs to, and the
process's start time, so that a pid reused by another process does not pass for the run's), and
:func:`recover_dead_runs` marks failed every unfinished run whose process is gone and frees what
it held. It is called before each `kg run` and `kg ingest`, while one of them waits for a slot,
and by ``killed_runs_sensor`` in the daemon; after that, run monitoring's
``free_slots_after_run_end_seconds`` (dagster.yaml) also covers slots of ended runs started
elsewhere.

A process can only be judged from the same machine and pid namespace: a run started in another
container or on another host is left alone (its own side's `kg` commands and sensor judge it).
Without /proc (macOS), a pid that exists counts as alive, and pid reuse goes unnoticed.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dagster as dg

HOST_TAG = "kg/host"
PID_TAG = "kg/pid"
PROCESS_TAG = "kg/process"
# In the instance's key-value store: the process of a `kg` command that claims pool slots for a
# run it has not started yet (see kg_pipeline/defs/step_slots.py), keyed by that run's id.
WAITING_PREFIX = "kg_pipeline/waiting_run/"
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

logger = logging.getLogger(__name__)


@cache
def _namespace() -> str:
    """Where a pid names one process: this boot of this machine and this pid namespace (a
    container has its own); the host name where /proc cannot say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pids = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return f"host:{socket.gethostname()}"
    return f"linux:{boot}:{pids.removeprefix('pid:[').rstrip(']')}"


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), "" where /proc cannot say, None
    when there is no such process or only its zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _exists(pid)
    # The name (field 2) may hold spaces and parentheses; the fields after its last ")" are
    # state (field 3) ... starttime (field 22).
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _exists(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # someone else's process: it exists
        pass
    return ""


@dataclass(frozen=True)
class ProcessIdentity:
    """One process, told apart from a later one that got the same pid."""

    host: str
    namespace: str
    pid: int
    started: str

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls.of(os.getpid()) or cls(socket.gethostname(), _namespace(), os.getpid(), "")

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """Process ``pid`` as seen from here; None when it is gone."""
        started = _start_time(pid) if sys.platform == "linux" else _exists(pid)
        if started is None:
            return None
        return cls(socket.gethostname(), _namespace(), pid, started)

    def tags(self) -> dict[str, str]:
        return {
            HOST_TAG: self.host,
            PID_TAG: str(self.pid),
            PROCESS_TAG: f"{self.namespace} {self.started}".rstrip(),
        }

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> ProcessIdentity | None:
        """The process named by a run's tags, or None for a run no `kg` command started."""
        try:
            namespace, _, started = tags[PROCESS_TAG].partition(" ")
            return cls(tags[HOST_TAG], namespace, int(tags[PID_TAG]), started)
        except (KeyError, ValueError):
            return None

    def is_gone(self) -> bool:
        """True only when this process has certainly ended: it ran where pids are ours to look
        up, and its pid is free or belongs to a process started later."""
        if self.namespace != _namespace():
            return False
        now = ProcessIdentity.of(self.pid)
        # A start time nobody could read ("") tells nothing: the pid's process counts as this one.
        return now is None or (
            "" not in (self.started, now.started) and now.started != self.started
        )

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


@dataclass(frozen=True)
class Recovery:
    """What was done for one run whose process is gone."""

    run_id: str
    process: ProcessIdentity
    outcome: str  # "marked failed", "had ended" or "never started"
    pools: tuple[str, ...]  # the pools whose slots or queued claims were freed

    def __str__(self) -> str:
        freed = f"freed its claims in {', '.join(self.pools)}" if self.pools else "held no slots"
        return f"run {self.run_id} ({self.process}, now gone) {self.outcome}; {freed}"


def failure_message(process: ProcessIdentity, by: str) -> str:
    return (
        f"The process that ran this run ({process}) is gone: it was killed or crashed before the "
        f"run could end. Marked failed by {by}, and its pool slots freed. Run the command again "
        "(`kg run`, `kg ingest`): answers already in the response cache are not asked again."
    )


def recover_dead_runs(instance: dg.DagsterInstance, by: str) -> list[Recovery]:
    """Mark failed each unfinished run whose `kg` process is gone, and free the pool slots and
    queued claims of every run (or not yet started run) whose `kg` process is gone. ``by`` says
    who did it, in the runs' failure message."""
    found: list[Recovery] = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        process = ProcessIdentity.from_tags(record.dagster_run.tags)
        if process is None or not process.is_gone():
            continue
        # Read again now that the process is known to be gone: it may have ended the run just
        # before going, and nothing can change the run any more.
        run = instance.get_run_by_id(record.dagster_run.run_id)
        outcome = "had ended"
        if run is not None and run.status in UNFINISHED:
            instance.report_run_failed(run, failure_message(process, by))
            outcome = "marked failed"
        run_id = record.dagster_run.run_id
        found.append(Recovery(run_id, process, outcome, _free_claims(instance, run_id)))
    return found + _free_abandoned_claims(instance, {r.run_id for r in found})


def _free_abandoned_claims(instance: dg.DagsterInstance, done: set[str]) -> list[Recovery]:
    """Claims of runs that ended, or never started, while their `kg` process went away."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    run_ids = storage.get_concurrency_run_ids() - done
    if not run_ids:
        return []
    runs = {
        r.dagster_run.run_id: r.dagster_run
        for r in instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids)))
    }
    waiting = instance.run_storage.get_cursor_values(
        {WAITING_PREFIX + run_id for run_id in run_ids - runs.keys()}
    )
    found = []
    for run_id in sorted(run_ids):
        run = runs.get(run_id)
        if run is not None and run.status in UNFINISHED:
            continue  # alive, or not started by `kg`: judged above
        tags = run.tags if run is not None else _waiting_tags(waiting.get(WAITING_PREFIX + run_id))
        process = ProcessIdentity.from_tags(tags)
        if process is not None and process.is_gone():
            outcome = "had ended" if run is not None else "never started"
            found.append(Recovery(run_id, process, outcome, _free_claims(instance, run_id)))
    return found


def waiting_marker(run_id: str, process: ProcessIdentity) -> dict[str, str]:
    """The key-value pair saying that ``process`` claims slots for run ``run_id`` before it
    starts the run (a claim with no run behind it would otherwise belong to nobody)."""
    tags = process.tags()
    return {WAITING_PREFIX + run_id: "\n".join(f"{k}={tags[k]}" for k in sorted(tags))}


def _waiting_tags(value: str | None) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (value or "").splitlines() if "=" in line)


def _free_claims(instance: dg.DagsterInstance, run_id: str) -> tuple[str, ...]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return ()
    infos = storage.get_concurrency_infos(sorted(storage.get_concurrency_keys()))
    pools = tuple(
        key
        for key, info in infos.items()
        if any(slot.run_id == run_id for slot in info.claimed_slots)
        or any(step.run_id == run_id for step in info.pending_steps)
    )
    if pools:
        storage.free_concurrency_slots_for_run(run_id)
    return pools


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the `kg run` / `kg ingest` runs whose process is gone (killed or "
    "crashed), and frees their pool slots so later runs do not wait for ever; Dagster's run "
    "monitoring cannot see these in-process runs. Judges only processes of this machine.",
)
def killed_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    found = recover_dead_runs(context.instance, by="the killed_runs_sensor")
    for recovery in found:
        context.log.warning(str(recovery))
    if not found:
        return dg.SkipReason("every unfinished `kg` run's process is alive")
    return dg.SkipReason(f"recovered {len(found)} run(s) whose process is gone (see the log)")
