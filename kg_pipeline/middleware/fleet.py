"""Several replicas of one model behind one provider: each call goes to the least busy one.

Inside a run, the extraction loop sees a single provider whose capacity is the sum of the
replicas' slots. Each call goes to the healthy replica with the fewest requests in flight that
still has a free slot (least-outstanding), so a replica that answers twice as fast frees its slot
twice as often and takes twice the work, without anyone measuring speeds. A replica that is
cooling down after repeated failures (ResilientProvider's cooldown) is skipped until it recovers.

A call whose replica turns out to be down (a connection failure, or the replica cooling down)
goes to another replica rather than failing: the members' retry policies say
``fail_fast_when_unreachable`` so that they hand such a call back at once. When every replica is
cooling down, the call waits for the first to recover, as long as some replica's outage budget
is left (with ``fail_fast_when_unreachable`` of its own, a fleet in front of a fallback does not
wait: the fallback answers).

This is the client-side choice among the replicas of ONE model within one run, nothing more:
spreading runs over machines is the job of Dagster's executors and pools, and spreading one
server's requests over its GPUs is vLLM's or Ollama's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.providers.base import (
    EndpointSettings,
    ExtractionProvider,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
)


def cooldown_remaining(provider: ExtractionProvider) -> float:
    """Seconds until ``provider`` takes calls again; 0 when it takes them now.

    Read by duck typing, so any wrapper that knows it is cooling down can say so; a provider
    that does not expose ``cooldown_remaining`` is taken to be always available (its calls then
    fail fast, and the error reaches the caller as it would without a fleet).
    """
    remaining = getattr(provider, "cooldown_remaining", None)
    return max(0.0, float(remaining)) if isinstance(remaining, int | float) else 0.0


def outage_budget_left(provider: ExtractionProvider) -> float:
    """Seconds the run may still wait for ``provider`` to come back (duck typed like
    ``cooldown_remaining``; a provider that does not say has none to wait for)."""
    left = getattr(provider, "outage_budget_left", None)
    return max(0.0, float(left)) if isinstance(left, int | float) else 0.0


def is_unreachable(error: ProviderError) -> bool:
    """Nobody answered (refused, reset), or the replica gave up waiting for itself."""
    return (
        isinstance(error, ProviderUnavailable)
        and error.status_code is None
        and not (error.timed_out)
    )


@dataclass
class FleetMember:
    """One replica and what it has done in this run (for reports and tests)."""

    provider: ExtractionProvider
    slots: int
    served: int = 0  # calls answered
    failed: int = 0  # calls that raised (after the member's own retries)
    in_flight: int = 0
    busy_seconds: float = 0.0  # request-seconds: summed over calls, so up to slots x wall time

    @property
    def name(self) -> str:
        return self.provider.settings.name

    @property
    def sent(self) -> int:
        return self.served + self.failed + self.in_flight


class FleetProvider:
    """An ExtractionProvider that spreads calls over replicas of one model by least-outstanding.

    ``members`` pairs each replica (usually already wrapped in ResilientProvider, which owns
    retries and cooldown) with its slots: the requests it serves in parallel (llama.cpp
    ``--parallel``, Ollama ``OLLAMA_NUM_PARALLEL``, a vLLM batch the operator is happy with).
    """

    def __init__(
        self,
        members: Sequence[tuple[ExtractionProvider, int]],
        fail_fast_when_unreachable: bool = False,
    ) -> None:
        if not members:
            raise ValueError("a fleet needs at least one member (provider, slots)")
        models = {provider.settings.model for provider, _ in members}
        if len(models) > 1:
            # Results are stored under one endpoint name; mixing models would mix their quality.
            raise ValueError(
                f"a fleet serves one model, got {sorted(models)}; give each model its own "
                "endpoint (and its own extractions partition)"
            )
        for provider, slots in members:
            if slots < 1:
                raise ValueError(f"{provider.settings.name}: slots must be at least 1, got {slots}")
        self.members = [FleetMember(provider, slots) for provider, slots in members]
        # The extraction loop bounds calls in flight by this, so it matches the fleet's capacity.
        self.settings: EndpointSettings = members[0][0].settings.model_copy(
            update={"max_concurrent_requests": sum(slots for _, slots in members)}
        )
        self.fail_fast_when_unreachable = fail_fast_when_unreachable
        self._changed = asyncio.Condition()

    def _choose(self) -> tuple[FleetMember | None, float | None]:
        """The member to call now, or None and how long to wait at most before looking again
        (None: until a call finishes)."""
        cooling = {id(m): cooldown_remaining(m.provider) for m in self.members}
        free = [m for m in self.members if cooling[id(m)] == 0.0 and m.in_flight < m.slots]
        if free:
            order = {id(m): i for i, m in enumerate(self.members)}
            best = min(free, key=lambda m: (m.in_flight, m.sent, order[id(m)]))
            return best, None
        # A cooling member may recover before any call finishes: look again when it does.
        recoveries = [left for left in cooling.values() if left > 0.0]
        return None, min(recoveries) if recoveries else None

    def _all_down(self) -> bool:
        return all(cooldown_remaining(m.provider) > 0.0 for m in self.members)

    async def _acquire(self, failure: ProviderError | None) -> FleetMember:
        """A member with a free slot; ``failure`` (what the call met on a replica that turned
        out to be down) is raised when every replica is down and none is to be waited for."""
        async with self._changed:
            while True:
                member, wait = self._choose()
                if member is not None:
                    member.in_flight += 1
                    return member
                if failure is not None and self._all_down():
                    budget = max(outage_budget_left(m.provider) for m in self.members)
                    if self.fail_fast_when_unreachable or budget == 0.0:
                        raise failure
                try:
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                except TimeoutError:
                    pass

    async def _release(self, member: FleetMember, seconds: float, ok: bool) -> None:
        async with self._changed:
            member.in_flight -= 1
            member.busy_seconds += seconds
            if ok:
                member.served += 1
            else:
                member.failed += 1
            self._changed.notify_all()

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        first: ProviderError | None = None
        while True:
            member = await self._acquire(first)
            started = time.perf_counter()
            ok = False
            try:
                result = await member.provider.extract(messages, json_schema, max_output_tokens)
                ok = True
            except ProviderError as exc:
                # Retrying is the member's wrapper's job; a later call avoids it while it cools.
                if exc.stats is not None:
                    exc.stats.served_by = member.name
                down = is_unreachable(exc) or cooldown_remaining(member.provider) > 0.0
                if not down or len(self.members) == 1:
                    raise
                # The replica is down: the call goes to another (the first failure is the root
                # cause, should they all be down).
                first = first or exc
                continue
            finally:
                # Shielded so that a cancelled call still gives its slot back.
                await asyncio.shield(self._release(member, time.perf_counter() - started, ok))
            result.stats.served_by = member.name
            return result

    async def list_models(self) -> list[str]:
        healthy = [m for m in self.members if cooldown_remaining(m.provider) == 0.0]
        return await (healthy or self.members)[0].provider.list_models()

    async def aclose(self) -> None:
        for member in self.members:
            await member.provider.aclose()
