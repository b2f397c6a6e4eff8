"""The step pools of a job run in this process (``model_endpoints``), claimed before it starts.

Why not leave the wait to Dagster: its in-process executor (what ``execute_in_process``, and so
`kg run`, uses) waits for a step's pool slot in a loop that never sleeps — in dagster 1.13
``InstanceConcurrencyContext.interval_to_next_pending_claim_check`` returns ``min(0, ...)``, so
``sleep_til_ready`` sleeps 0 s and the loop keeps two thirds of a core busy — says so only at
DEBUG, once per five minutes, and waits inside ``capture_interrupts``, which turns SIGINT and
SIGTERM into a flag that this loop never reads: Ctrl-C does nothing.

So `kg` claims those slots itself, under the run id and step key Dagster will claim them with,
before it starts the run: Dagster finds the claim already holding its slot
(``claim_concurrency_slot`` returns at once for a (pool, run, step) that holds one) and never
waits, and frees it when the step ends, as it would its own. The wait happens here instead: asleep
between polls, stopped by Ctrl-C or SIGTERM (the queued claim then withdrawn), said at INFO with
the runs holding the slots; a holder whose process is gone is recovered
(kg_pipeline/defs/run_recovery.py) while waiting. Dagster's queue still decides who is next: the
claim waits in line like any.

Which steps: the op steps of a job with no dynamic outputs (their step keys are known before the
run) that are alone in their pool within the job (claiming two steps of one pool up front could
make the run wait for itself). Others are left to Dagster. The slot is held from before the first
step, so a run holds ``model_endpoints`` a few seconds longer (its documents and chunks steps).

Until the run exists its claims belong to no run, so the process is first written down under the
run's id (``run_recovery.waiting_marker``): were it killed while waiting, the next recovery frees
its place in the queue, which would otherwise be handed a slot nobody takes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.instance.config import PoolGranularity
from sqlalchemy.exc import OperationalError

from kg_pipeline.defs.pools import is_contention
from kg_pipeline.defs.run_recovery import (
    WAITING_PREFIX,
    ProcessIdentity,
    recover_dead_runs,
    waiting_marker,
)
from kg_pipeline.errors import KgError

if TYPE_CHECKING:
    from dagster._core.storage.event_log.base import EventLogStorage

# The older way to name a step's pool, which Dagster still reads.
POOL_TAG = "dagster/concurrency_key"

logger = logging.getLogger(__name__)


class WaitStopped(KgError):
    """Ctrl-C or SIGTERM while waiting for a slot: nothing has run."""


@dataclass(frozen=True)
class SlotWait:
    """How a run waits: polls from ``first`` to ``most`` seconds apart; says who holds the slot
    again every ``say_every`` seconds, and looks for holders whose process is gone as often."""

    first: float = 0.1
    most: float = 1.0
    say_every: float = 60.0


def pooled_steps(job: dg.JobDefinition) -> dict[str, str]:
    """pool -> the one step of ``job`` in it whose slot is claimed before the run (see above)."""
    if any(out.is_dynamic for op in job.graph.iterate_op_defs() for out in op.output_defs):
        return {}
    steps: dict[str, list[str]] = {}
    for handle in job.graph.iterate_node_handles():
        node = job.graph.get_node(handle)
        if isinstance(node.definition, dg.OpDefinition):
            pool = node.definition.pool or node.tags.get(POOL_TAG)
            if pool:
                steps.setdefault(pool, []).append(str(handle))
    return {pool: keys[0] for pool, keys in steps.items() if len(keys) == 1}


@contextmanager
def step_slots_held(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    run_id: str,
    process: ProcessIdentity,
    wait: SlotWait = SlotWait(),
) -> Iterator[None]:
    """Hold a slot of each of ``job``'s step pools for run ``run_id`` (not yet started) while
    the block runs; afterwards free every claim the run still has, in any pool: the run is over,
    and a claim it left behind would only block the next one."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        yield
        return
    pools = {}
    # With run granularity the run queue enforces pools, and the executor claims nothing.
    if storage.get_pool_config().pool_granularity != PoolGranularity.RUN:
        pools = {pool: step for pool, step in pooled_steps(job).items() if _limited(storage, pool)}
    if pools:
        instance.run_storage.set_cursor_values(waiting_marker(run_id, process))
    try:
        with _signals_stop_the_wait():
            for pool, step_key in pools.items():
                _wait_for_slot(instance, pool, run_id, step_key, wait)
        yield
    finally:
        storage.free_concurrency_slots_for_run(run_id)
        if pools:
            instance.run_storage.set_cursor_values({WAITING_PREFIX + run_id: ""})


def _limited(storage: EventLogStorage, pool: str) -> bool:
    """Whether ``pool`` has a limit, its row made from the default limit as Dagster's own
    claim would (InstanceConcurrencyContext.claim)."""
    default = storage.get_pool_config().default_pool_limit
    limits = {p.name: p for p in storage.get_pool_limits()}
    current = limits.get(pool)
    if (current is None and default is not None) or (
        current is not None and current.from_default and current.limit != default
    ):
        storage.initialize_concurrency_limit_to_default(pool)
        return True
    return current is not None


@contextmanager
def _signals_stop_the_wait() -> Iterator[None]:
    """SIGTERM ends the wait as Ctrl-C does, so the queued claim is withdrawn on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        # None: a handler Python did not install; the default is the closest to put back.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _wait_for_slot(
    instance: dg.DagsterInstance, pool: str, run_id: str, step_key: str, wait: SlotWait
) -> None:
    storage = instance.event_log_storage
    began = time.monotonic()
    said_at: float | None = None
    interval = wait.first
    try:
        while True:
            try:
                if storage.claim_concurrency_slot(pool, run_id, step_key).is_claimed:
                    break
            except OperationalError as exc:
                if not is_contention(exc):
                    raise
            now = time.monotonic()
            if said_at is None or now - said_at >= wait.say_every:
                if said_at is not None:
                    for recovery in recover_dead_runs(instance, by="a waiting `kg` command"):
                        logger.warning(str(recovery))
                still = "still " if said_at is not None else ""
                logger.info(
                    f"{still}waiting for a slot of pool {pool}: {holders(instance, pool, run_id)}. "
                    "The run starts when one is free (Ctrl-C stops waiting)"
                )
                said_at = now
            time.sleep(interval)
            interval = min(interval * 2, wait.most)
    except KeyboardInterrupt:
        raise WaitStopped(
            f"stopped while waiting for a slot of pool {pool} ({holders(instance, pool, run_id)}); "
            "nothing ran. Run it again when that run has ended, or raise the limit: `dagster "
            f"instance concurrency set {pool} 2` (or the UI's Pools page)"
        ) from None
    if said_at is not None:
        logger.info(f"got a slot of pool {pool} after {time.monotonic() - began:.0f} s")


def holders(instance: dg.DagsterInstance, pool: str, run_id: str) -> str:
    """Who holds ``pool``'s slots and how many wait before ``run_id``, in words."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    names = []
    for holder in sorted({slot.run_id for slot in info.claimed_slots} - {run_id}):
        run = instance.get_run_by_id(holder)
        if run is None:
            names.append(f"run {holder} (not started yet)")
            continue
        process = ProcessIdentity.from_tags(run.tags)
        by = f", `kg` {process}" if process else ""
        names.append(f"run {holder} ({run.job_name}, {run.status.value.lower()}{by})")
    mine = [s for s in info.pending_steps if s.run_id == run_id]
    ahead = [
        s
        for s in info.pending_steps
        if s.assigned_timestamp is None
        and s.run_id != run_id
        and (not mine or s.enqueued_timestamp < mine[0].enqueued_timestamp)
    ]
    held = f"its {info.limit} slot(s) held by {', '.join(names) or 'no run'}"
    return held + (f"; {len(ahead)} run(s) queued before this one" if ahead else "")
