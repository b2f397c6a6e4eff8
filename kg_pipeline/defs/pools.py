"""Every model server is a Dagster pool whose limit is the server's slots.

Why not ``@dg.asset(pool=...)``: an asset's pool is one key per step, fixed when the definitions
load, and a step's claim covers the whole step. The servers a step calls are known only from the
model's configuration at run time (a fleet has several, a fallback adds one), and one step sends
many requests at once. So each request claims one slot of its own server's pool, in the store
Dagster's pools use (the event log storage's concurrency tables). Runs in other processes and
containers, `kg ingest`, backfills and the benchmark all count against the same limit, and
``dagster instance concurrency get`` and the UI's Pools page show these pools like any other.

Naming: ``kg-endpoint/<host>:<port>`` from the server's base URL, default port filled in,
lower-case, no DNS lookup (``localhost`` and ``127.0.0.1`` are two pools). One pool per server,
whatever the path or the model: models served by one server share its pool, so give them the
same slots.

The limit: a run sets each pool's limit to the endpoint's slots (``max_concurrent_requests``, or
the replica's slots) when it builds the endpoint's provider. An operator may override it
(``dagster instance concurrency set kg-endpoint/gpu-0:11434 2``, or the Pools page); a run keeps
that limit until the configured slots change (``kg admin extraction set``). The most recent
change wins. To know which came last, the instance's key-value store remembers the slots each
pool was last set from.

Claims: a slot is claimed with ``claim_concurrency_slot``, polled in a worker thread because
storage calls block, and freed with ``free_concurrency_slot_for_step`` when the request ends,
fails or is cancelled. Dagster hands a freed slot to the longest-waiting claim, which notices at
its next poll: polls start at 0.05 s and double up to 0.5 s, and a slot freed in this process
wakes this process's waiters at once. Until a claim is handed a slot its polls only read (one
query), so a waiting request costs the database a few queries a second. Dagster keys a claim by
(pool, run, step key), and freeing a step key frees it in every pool, so each request claims under
a key of its own: ``<step>[<pool> <random id>]``.

Dagster's claim is not atomic, so three guards: on PostgreSQL it picks a free slot and then takes
it in two autocommit statements, and two claims can take the same slot; on SQLite the losing
writer gets "database is locked"; and two runs setting a new pool's limit at once collide on its
row. Claims (and frees) from one process go one at a time; a claim is checked again after it
succeeds, and a slot taken from under it counts as not claimed (keep waiting); a locked database
or a collision is tried again. What is left: two processes taking one slot and both passing the
check, which needs the winner to stall between its two statements longer than the loser's check
takes (a separate connection).

Leaks: a process killed while holding slots leaves them claimed, since Dagster frees a run's slots
only when asked. A `kg` process's runs carry its identity, and kg_pipeline/defs/run_recovery.py
marks failed a run whose process is gone and frees its slots: before each `kg run` and `kg ingest`,
in the daemon (``killed_runs_sensor``), and here, every ``Backoff.recover_every`` seconds a request
waits. Run monitoring frees the slots of other runs once they have ended
(``run_monitoring.free_slots_after_run_end_seconds`` in dagster.yaml); the Pools page can too.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import dagster as dg
from sqlalchemy.exc import IntegrityError, OperationalError

from kg_pipeline.defs.run_recovery import recover_dead_runs
from kg_pipeline.middleware.pooled import PooledProvider
from kg_pipeline.providers.base import ExtractionProvider

if TYPE_CHECKING:
    from dagster._core.storage.event_log.base import EventLogStorage

POOL_PREFIX = "kg-endpoint/"
# In the instance's key-value store (run storage cursors): the slots a pool was last set from.
SYNCED_SLOTS_PREFIX = "kg_pipeline/pool_slots/"
DEFAULT_PORTS = {"http": 80, "https": 443}
FREE_ATTEMPTS = 5
SET_LIMIT_ATTEMPTS = 3

logger = logging.getLogger(__name__)
T = TypeVar("T")
Log = logging.Logger | dg.DagsterLogManager


def pool_key(base_url: str) -> str:
    """The pool of the server at ``base_url``: ``kg-endpoint/<host>:<port>``."""
    url = urlsplit(base_url if "://" in base_url else f"http://{base_url}")
    host = (url.hostname or "").lower()
    if not host:
        raise ValueError(
            f"{base_url!r} names no server: an endpoint's base URL looks like "
            "http://gpu-0:11434 (`kg admin extraction set --base-url URL`)"
        )
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{POOL_PREFIX}{host}:{url.port or DEFAULT_PORTS.get(url.scheme.lower(), 80)}"


def supports_pools(instance: dg.DagsterInstance) -> bool:
    return instance.event_log_storage.supports_global_concurrency_limits


def ensure_pool_limit(instance: dg.DagsterInstance, key: str, slots: int) -> int:
    """Make ``slots`` the limit of pool ``key`` unless an operator set another limit since the
    configured slots last changed; returns the limit in force."""
    for attempt in range(1, SET_LIMIT_ATTEMPTS + 1):
        try:
            return _ensure_pool_limit_once(instance, key, slots)
        except IntegrityError:
            # Two runs created the pool's limit row in the same instant; the other one won, and
            # the next attempt updates its row (a lock on it orders the updates).
            if attempt == SET_LIMIT_ATTEMPTS:
                raise
        except OperationalError as exc:
            if not is_contention(exc) or attempt == SET_LIMIT_ATTEMPTS:
                raise
        time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _ensure_pool_limit_once(instance: dg.DagsterInstance, key: str, slots: int) -> int:
    storage = instance.event_log_storage
    info = storage.get_concurrency_info(key)
    # A limit from `concurrency.pools.default_limit` is nobody's choice for this pool.
    explicit = None if info.using_default_limit else info.limit
    marker = SYNCED_SLOTS_PREFIX + key
    synced = instance.run_storage.get_cursor_values({marker}).get(marker)
    reconfigured = synced is not None and synced != str(slots)
    limit = explicit
    if explicit is None or reconfigured:
        if explicit != slots:
            storage.set_concurrency_slots(key, slots)
        limit = slots
    if synced != str(slots):
        instance.run_storage.set_cursor_values({marker: str(slots)})
    assert limit is not None
    return limit


def is_contention(exc: OperationalError) -> bool:
    """SQLite's answer to two writers at once: try again, nothing is wrong."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return (
        isinstance(exc.orig, sqlite3.OperationalError)
        and code is not None
        and (code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED))
    )


_claim_locks: dict[str, threading.Lock] = {}


def _claim_lock(key: str) -> threading.Lock:
    return _claim_locks.setdefault(key, threading.Lock())


def _claim(storage: EventLogStorage, key: str, run_id: str, claim_key: str, queued: bool) -> bool:
    try:
        if queued:
            # Dagster hands a freed slot to one queued claim; until this one is handed a slot,
            # a poll only reads, and needs neither the lock nor the writes of a full claim.
            status = storage.check_concurrency_claim(key, run_id, claim_key)
            if status.is_claimed:
                return True
            if not status.is_assigned:
                return False
        with _claim_lock(key):
            if not storage.claim_concurrency_slot(key, run_id, claim_key).is_claimed:
                return False
            # Another process may have taken the same slot row in the same instant (see above).
            return bool(storage.check_concurrency_claim(key, run_id, claim_key).is_claimed)
    except OperationalError as exc:
        if is_contention(exc):
            return False
        raise


def _free(storage: EventLogStorage, key: str, run_id: str, claim_key: str) -> None:
    for attempt in range(FREE_ATTEMPTS):
        try:
            with _claim_lock(key):
                storage.free_concurrency_slot_for_step(run_id, claim_key)
            return
        except OperationalError as exc:
            if not is_contention(exc) or attempt == FREE_ATTEMPTS - 1:
                # Not raised: the call itself is over, and failing it would not free the slot.
                logger.error(
                    f"pool {key}: slot {claim_key} of run {run_id} not freed ({exc}); it stays "
                    "claimed until run monitoring frees the run's slots, or free it on the UI's "
                    "Pools page"
                )
                return
        time.sleep(0.05 * 2**attempt)


async def _to_the_end_in_thread(call: Callable[[], T]) -> T:
    """``call`` in a worker thread, awaited to its end even when cancelled: a claim that lands
    after its waiter gave up would otherwise hold a slot nobody frees."""
    task = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise


@dataclass(frozen=True)
class Backoff:
    """How often a waiting request asks for a slot: ``first`` seconds, doubling up to ``most``;
    and every ``recover_every`` seconds of waiting, whether a run holding slots has lost its
    process (at most once per that interval in this process, however many requests wait)."""

    first: float = 0.05
    most: float = 0.5
    recover_every: float = 30.0


class _Recoveries:
    """When this process last looked for runs whose process is gone, so that a hundred waiting
    requests look once, not a hundred times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def due(self, every: float) -> bool:
        with self._lock:
            if time.monotonic() - self._last < every:
                return False
            self._last = time.monotonic()
            return True

    def run(self, instance: dg.DagsterInstance) -> None:
        try:
            found = recover_dead_runs(instance, by="a run waiting for its slots")
        except Exception as exc:  # looking is a courtesy: the request waits on regardless
            logger.warning(f"could not look for runs whose process is gone: {exc}")
            return
        for recovery in found:
            logger.warning(str(recovery))


_recoveries = _Recoveries()


class _Wakeups:
    """The requests of this process waiting for a slot, by pool: a slot freed here wakes them to
    look at once, rather than at their next poll (Dagster may have handed it to one of them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    @contextmanager
    def waiting(self, key: str) -> Iterator[asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(key, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiting[key].discard(entry)

    def wake(self, key: str) -> None:
        with self._lock:
            entries = list(self._waiting.get(key, ()))
        for loop, event in entries:  # each waiter's own event loop (runs may have threads)
            with suppress(RuntimeError):  # that loop has closed: nobody left to wake
                loop.call_soon_threadsafe(event.set)


_wakeups = _Wakeups()


@asynccontextmanager
async def endpoint_slot(
    instance: dg.DagsterInstance,
    key: str,
    run_id: str,
    step_key: str,
    backoff: Backoff = Backoff(),
) -> AsyncIterator[str]:
    """Hold one slot of pool ``key`` for run ``run_id``'s step ``step_key``; yields the claim's
    own step key, as the Pools page shows it."""
    storage = instance.event_log_storage
    claim_key = f"{step_key}[{key} {uuid.uuid4().hex[:8]}]"
    try:
        with _wakeups.waiting(key) as freed:
            queued, wait = False, backoff.first
            while True:
                freed.clear()
                claim = partial(_claim, storage, key, run_id, claim_key, queued)
                if await _to_the_end_in_thread(claim):
                    break
                queued = True
                with suppress(TimeoutError):
                    await asyncio.wait_for(freed.wait(), wait)
                wait = min(wait * 2, backoff.most)
                if _recoveries.due(backoff.recover_every):
                    # A run killed while holding this pool's slots would keep them for ever.
                    await _to_the_end_in_thread(partial(_recoveries.run, instance))
        yield claim_key
    finally:
        # Also when the wait was cancelled: that removes the queued claim.
        await _to_the_end_in_thread(partial(_free, storage, key, run_id, claim_key))
        _wakeups.wake(key)


@dataclass(frozen=True)
class InstancePool:
    """One server's pool as one step's requests see it (a middleware.pooled.SlotPool)."""

    instance: dg.DagsterInstance
    key: str
    run_id: str
    step_key: str
    backoff: Backoff = Backoff()

    def slot(self) -> AbstractAsyncContextManager[str]:
        return endpoint_slot(self.instance, self.key, self.run_id, self.step_key, self.backoff)


class EndpointPools:
    """The pools one step's requests claim from: each server's limit is set (once per step,
    and again when its slots change) as its provider is built."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        step_key: str,
        log: Log = logger,
        backoff: Backoff = Backoff(),
    ) -> None:
        self.instance = instance
        self.run_id = run_id
        self.step_key = step_key
        self.log = log
        self.backoff = backoff
        self._slots: dict[str, int] = {}

    def pool(self, base_url: str, slots: int) -> InstancePool:
        key = pool_key(base_url)
        if self._slots.get(key) != slots:
            limit = ensure_pool_limit(self.instance, key, slots)
            self._slots[key] = slots
            if limit == slots:
                self.log.info(f"pool {key}: limit {limit}, the endpoint's slots")
            else:
                self.log.info(
                    f"pool {key}: limit {limit}, set in the instance (`dagster instance "
                    f"concurrency set` or the UI's Pools page), kept over the endpoint's {slots} "
                    "slots until those change"
                )
        return InstancePool(self.instance, key, self.run_id, self.step_key, self.backoff)

    def wrap(self, provider: ExtractionProvider, slots: int) -> PooledProvider:
        """``provider``'s calls, each holding a slot of its server's pool of ``slots``."""
        return PooledProvider(provider, self.pool(provider.settings.base_url, slots))


def endpoint_pools(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
) -> EndpointPools | None:
    """The pools for this step's requests, or None (said once in the step's log) when its
    instance keeps none: then each endpoint's slots bound this run's own requests only."""
    instance = context.instance
    if not supports_pools(instance):
        storage = type(instance.event_log_storage).__name__
        if instance.is_persistent:
            context.log.warning(
                f"endpoint pools off: the instance's event log storage ({storage}) has no "
                "concurrency tables, so runs in other processes do not see this run's requests; "
                "`dagster instance migrate` adds them"
            )
        else:
            context.log.info(
                f"endpoint pools off: this run's Dagster instance is in memory ({storage}); each "
                "endpoint's slots bound this run's own requests only"
            )
        return None
    step_key = context.get_step_execution_context().step.key
    return EndpointPools(instance, context.run.run_id, step_key, context.log)
