"""Retries, outages, re-asks and truncation recovery around any provider.

Wraps the provider interface rather than living in each provider, so Ollama, vLLM, llama.cpp and
cloud endpoints recover the same way:

- transport failures (refused, reset, timed out) and HTTP 408, 409, 429, 5xx are retried with
  exponential backoff and full jitter, honouring ``Retry-After``, up to ``max_retries``;
- an outage: after ``allowed_fails`` consecutive failures that say the endpoint itself is down
  (no answer at all, or 502/503/504/529) the endpoint cools down for ``cooldown_seconds``
  (LiteLLM's ``allowed_fails`` / ``cooldown_time``). A call then waits rather than fails, as
  LiteLLM routes around a cooling deployment rather than dropping the request: when the cooldown
  ends one call probes the endpoint; any answer ends the outage and the waiting calls go on, no
  answer starts another cooldown. Waiting is bounded by the run's outage budget
  (``outage_budget_seconds``, over all outages of the run); once it is spent, a call meeting a
  cooling endpoint fails at once with the error that started the outage;
- an answer that is not a valid extraction is re-asked once, with the validation error;
- an answer cut off at the output budget is retried with double the budget, up to a cap.

What counts toward an outage is about the endpoint, never about one request: a chunk whose
every call gets HTTP 500 (its text crashes the server's handler, say) fails on its own retries
and never cools the endpoint down for the other chunks.

A failed call reports its root cause, the first error it met (with the URL), since later errors
are often only the consequence (a retry refused because the server is still restarting).

The state of an outage lives in this object, and each run builds its own provider stack
(kg_pipeline/middleware/stack.py ``provider_stack``), so no cooldown outlives its run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    ExtractionProvider,
    MalformedOutput,
    ProviderError,
    ProviderResult,
    ProviderUnavailable,
    TruncatedOutput,
)

# 529: Anthropic's "overloaded", a transient capacity answer like 503.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Answers that speak for the endpoint rather than the request: a gateway that cannot reach the
# server behind it (502, 504), or a server refusing all work for now (503, 529).
ENDPOINT_DOWN_STATUS = frozenset({502, 503, 504, 529})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    max_output_tokens_cap: int = 16384
    reasks: int = 1
    allowed_fails: int = 5
    cooldown_seconds: float = 5.0  # LiteLLM's default cooldown_time
    outage_budget_seconds: float = 300.0
    # When the call has somewhere else to go (another replica of a fleet, a fallback endpoint on
    # errors): an unreachable endpoint is neither retried nor waited for, so the call goes there
    # at the first connection failure (kg_pipeline/middleware/fleet.py, fallback.py).
    fail_fast_when_unreachable: bool = False

    @classmethod
    def for_endpoint(
        cls, settings: EndpointSettings, fail_fast_when_unreachable: bool = False
    ) -> RetryPolicy:
        return cls(
            max_retries=settings.max_retries,
            base_delay_seconds=settings.retry_backoff_seconds,
            cooldown_seconds=settings.cooldown_seconds,
            outage_budget_seconds=settings.outage_budget_seconds,
            fail_fast_when_unreachable=fail_fast_when_unreachable,
        )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return rng.uniform(0.0, min(self.max_delay_seconds, self.base_delay_seconds * 2**attempt))


def is_retryable(error: ProviderUnavailable) -> bool:
    return error.status_code is None or error.status_code in RETRYABLE_STATUS


def says_endpoint_is_down(error: ProviderUnavailable) -> bool:
    return error.status_code is None or error.status_code in ENDPOINT_DOWN_STATUS


def is_connection_failure(error: ProviderUnavailable) -> bool:
    """Refused or reset: nobody is there. A timeout is not one: the server may be working."""
    return error.status_code is None and not error.timed_out


class ResilientProvider:
    """An ExtractionProvider that recovers from what a long run meets."""

    def __init__(
        self,
        inner: ExtractionProvider,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        on_outage: Callable[[str], None] | None = None,
    ) -> None:
        """``sleep`` waits out retry backoffs (tests pass a recording one); ``on_outage`` is told
        in a sentence when an outage starts and ends (the run's log)."""
        self.inner = inner
        self.settings: EndpointSettings = inner.settings
        self.policy = policy or RetryPolicy.for_endpoint(inner.settings)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_outage = on_outage
        self._consecutive_failures = 0
        self._streak_cause: ProviderUnavailable | None = None
        self._cooldown_until = 0.0
        # The error that started the outage under way (None: the endpoint is taking calls).
        self._outage_cause: ProviderUnavailable | None = None
        self._outage_since = 0.0
        self._outage_spent = 0.0  # seconds of earlier outages this run
        self._probing = False
        self._settled: asyncio.Event | None = None  # set when a probe ends
        self.outages = 0

    @property
    def cooldown_remaining(self) -> float:
        """Seconds until this endpoint takes calls again (0: now), so a fleet can send the next
        chunk to another replica instead of waiting for this one."""
        if self._outage_cause is None:
            return 0.0
        return max(0.0, self._cooldown_until - time.monotonic())

    @property
    def outage_budget_left(self) -> float:
        spent = self._outage_spent
        if self._outage_cause is not None:
            spent += time.monotonic() - self._outage_since
        return max(0.0, self.policy.outage_budget_seconds - spent)

    def _outage_error(
        self, first: ProviderUnavailable | None, waited: float
    ) -> ProviderUnavailable:
        """The error of a call that will not wait for the endpoint: its own first error, else
        the one that started the outage, and why it stops here."""
        cause = first or self._outage_cause
        assert cause is not None
        if self.outage_budget_left > 0.0:
            detail = "not waited for: the call goes to another replica or the fallback"
        else:
            detail = (
                "it stayed down past the run's outage budget of "
                f"{self.policy.outage_budget_seconds:g}s (outage_budget_seconds)"
            )
        return ProviderUnavailable(
            f"{cause}; {detail}",
            CallStats(wall_seconds=waited),
            status_code=cause.status_code,
            timed_out=cause.timed_out,
        )

    def _settled_event(self) -> asyncio.Event:
        # Made in the running loop: an event bound to an earlier loop cannot be awaited.
        if self._settled is None:
            self._settled = asyncio.Event()
        return self._settled

    def _settle(self) -> None:
        """Wake the calls waiting on the outage to look again."""
        if self._settled is not None:
            self._settled.set()
        self._settled = None

    async def _await_endpoint(self, first: ProviderUnavailable | None) -> tuple[bool, float]:
        """Wait until a call may go to the endpoint: at once when it takes calls, else until
        this call is the probe of an ended cooldown. Returns whether it is the probe, and the
        seconds waited. Raises when the run's outage budget is spent, or the policy says not to
        wait."""
        if self._outage_cause is None:
            return False, 0.0
        started = time.monotonic()
        while self._outage_cause is not None:
            cooling = self.cooldown_remaining
            if cooling == 0.0 and not self._probing:
                self._probing = True
                return True, time.monotonic() - started
            left = self.outage_budget_left
            # With the budget spent, a call still waits for a probe under way (one request) to
            # say whether the endpoint is back, but never for a cooldown.
            if self.policy.fail_fast_when_unreachable or (left <= 0.0 and cooling > 0.0):
                raise self._outage_error(first, time.monotonic() - started)
            settled = self._settled_event()
            # Until the cooldown ends or, while a probe is under way, until it does; either way
            # no longer than the budget (once it is spent, the probe bounds the wait).
            timeout: float | None = min(left, cooling) if cooling > 0.0 else left or None
            with suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), timeout)
        return False, time.monotonic() - started

    def _failed(self, error: ProviderUnavailable, probe: bool) -> None:
        if not says_endpoint_is_down(error):
            self._answered()  # the server answered: it is up, whatever it said
            return
        if self._outage_cause is not None:
            if probe:
                self._cooldown_until = time.monotonic() + self.policy.cooldown_seconds
            return
        if self._consecutive_failures == 0:
            self._streak_cause = error
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.policy.allowed_fails:
            self._start_outage()

    def _start_outage(self) -> None:
        cause = self._streak_cause
        assert cause is not None
        now = time.monotonic()
        self._outage_cause = cause
        self._outage_since = now
        self._cooldown_until = now + self.policy.cooldown_seconds
        self.outages += 1
        if self._on_outage is not None:
            waits = (
                "calls go to the fallback until it answers"
                if self.policy.fail_fast_when_unreachable
                else f"chunks wait for it, {self.outage_budget_left:.0f}s at most in all "
                "(outage_budget_seconds)"
            )
            self._on_outage(
                f"{self.settings.name} is down after {self._consecutive_failures} consecutive "
                f"failures ({cause}); trying it again every {self.policy.cooldown_seconds:g}s, "
                f"{waits}"
            )

    def _answered(self) -> None:
        self._consecutive_failures = 0
        self._streak_cause = None
        if self._outage_cause is None:
            return
        lasted = time.monotonic() - self._outage_since
        self._outage_spent += lasted
        self._outage_cause = None
        self._cooldown_until = 0.0
        self._settle()
        if self._on_outage is not None:
            self._on_outage(f"{self.settings.name} answers again after {lasted:.1f}s down")

    async def _attempt(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        budget: int | None,
        probe: bool,
    ) -> ProviderResult:
        """One request; its outcome moves the outage state."""
        try:
            result = await self.inner.extract(messages, json_schema, budget)
        except ProviderUnavailable as exc:
            self._failed(exc, probe)
            raise
        except ProviderError:
            self._answered()
            raise
        finally:
            if probe:
                self._probing = False
                self._settle()
        self._answered()
        return result

    async def _call_with_retries(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        budget: int | None,
        tally: dict[str, float],
    ) -> ProviderResult:
        attempt = 0
        first: ProviderUnavailable | None = None
        fail_fast = self.policy.fail_fast_when_unreachable
        while True:
            probe, waited = await self._await_endpoint(first)
            tally["wait"] += waited
            tally["attempts"] += 1
            try:
                return await self._attempt(messages, json_schema, budget, probe)
            except ProviderUnavailable as exc:
                first = first or exc
                down = self._outage_cause is not None
                if down and not fail_fast:
                    # The outage owns this failure: the call waits for the endpoint (bounded by
                    # the run's outage budget) without spending its own retries.
                    continue
                if (
                    not fail_fast
                    and is_connection_failure(exc)
                    and attempt >= self.policy.max_retries
                    and self._consecutive_failures > attempt
                ):
                    # Every try of this call found nobody there (refused, reset) and no call
                    # was answered meanwhile: an outage, even before ``allowed_fails`` calls
                    # failed (the others may still be in flight when the server died). Wait
                    # for it. Not after timeouts or HTTP errors: the server did hear it.
                    self._start_outage()
                    continue
                unreachable = down or is_connection_failure(exc)
                if (
                    not is_retryable(exc)
                    or attempt >= self.policy.max_retries
                    or (fail_fast and unreachable)
                ):
                    raise _root_cause(first, exc) from None
                wait = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else self.policy.backoff(attempt, self._rng)
                )
                tally["wait"] += wait
                await self._sleep(wait)
                attempt += 1

    async def extract(
        self,
        messages: PromptMessages,
        json_schema: dict[str, Any],
        max_output_tokens: int | None = None,
    ) -> ProviderResult:
        tally = {"attempts": 0.0, "wait": 0.0, "reasks": 0.0, "budget_retries": 0.0}
        budget = max_output_tokens or self.settings.output_budget
        current = messages
        started = time.perf_counter()
        while True:
            try:
                result = await self._call_with_retries(current, json_schema, budget, tally)
            except TruncatedOutput as exc:
                if budget >= self.policy.max_output_tokens_cap:
                    raise _with_tally(exc, tally, started) from None
                budget = min(budget * 2, self.policy.max_output_tokens_cap)
                tally["budget_retries"] += 1
                continue
            except MalformedOutput as exc:
                if tally["reasks"] >= self.policy.reasks or exc.stats is None:
                    raise _with_tally(exc, tally, started) from None
                tally["reasks"] += 1
                current = current.with_correction(exc.stats.raw_text, str(exc))
                continue
            except ProviderError as exc:
                raise _with_tally(exc, tally, started) from None
            _apply(result.stats, tally)
            return result

    async def list_models(self) -> list[str]:
        return await self.inner.list_models()

    async def aclose(self) -> None:
        await self.inner.aclose()


def _root_cause(first: ProviderUnavailable, last: ProviderUnavailable) -> ProviderUnavailable:
    """The error to report for a call that gave up: the first one it met, which names what went
    wrong; the last one only when it says the same (or the first was the last)."""
    if first is last or str(first) == str(last):
        return last
    error = ProviderUnavailable(
        f"{first} (the last of the retries: {last})",
        last.stats,
        status_code=first.status_code,
        retry_after=last.retry_after,
        timed_out=first.timed_out,
    )
    return error


def _apply(stats: CallStats, tally: dict[str, float]) -> None:
    stats.attempts = int(tally["attempts"])
    stats.reasks = int(tally["reasks"])
    stats.budget_retries = int(tally["budget_retries"])
    stats.retry_wait_seconds = tally["wait"]


def _with_tally(error: ProviderError, tally: dict[str, float], started: float) -> ProviderError:
    if error.stats is None:
        # No answer came, so no call timed itself: the seconds the whole call took are the truth.
        error.stats = CallStats(wall_seconds=time.perf_counter() - started)
    _apply(error.stats, tally)
    return error
