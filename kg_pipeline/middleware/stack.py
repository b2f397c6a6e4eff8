"""The one place a provider's call stack is assembled, from the inside out: the server's own
provider, its pool slot, retries, the fleet of its replicas, the fallback model, the response
cache. Every extraction run builds its stack here, so the order of the wrappers, on which their
guarantees rest, is written once.

Plain settings in, a provider out: where the pools and the cache live (Dagster's instance, the
project's database) is the caller's business, handed in as ``wrap_pool`` and a ``ResponseCache``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kg_pipeline.middleware.cached import CachedProvider, ResponseCache
from kg_pipeline.middleware.fallback import FallbackProvider
from kg_pipeline.middleware.fleet import FleetProvider
from kg_pipeline.middleware.resilient import ResilientProvider, RetryPolicy
from kg_pipeline.providers import EndpointSettings, ExtractionProvider, create_provider

# Wraps a server's provider so that each call holds one of the server's ``slots``.
PoolWrapper = Callable[[ExtractionProvider, int], ExtractionProvider]


def provider_stack(
    endpoint: EndpointSettings,
    slots: int,
    fallback: tuple[EndpointSettings, int] | None = None,
    cache: ResponseCache | None = None,
    replicas: Sequence[tuple[EndpointSettings, int]] | None = None,
    wrap_pool: PoolWrapper | None = None,
    log: Callable[[str], None] | None = None,
) -> ExtractionProvider:
    """Retries around each server of the model (several: a fleet, least busy first), then the
    fallback endpoint, then the response cache: with the cache outermost, chunks answered before
    (same model, prompt, sampling) cost no model call, so a re-run of unchanged chunks is free
    and a run killed half-way resumes.

    ``slots`` is the number of calls ``endpoint`` serves at once; ``fallback`` and each of
    ``replicas`` come with theirs. With ``wrap_pool``, each call to a server first takes a slot
    of that server's pool, whose limit is set from the server's slots; inside the retries, so a
    backoff holds no slot.

    Built for each run, so an endpoint's outage state (its cooldown, the outage budget spent)
    starts fresh with the run; ``log`` hears when an endpoint goes down and comes back."""
    # With a fallback on errors, an unreachable local server is not retried nor waited for.
    fail_fast = fallback is not None and endpoint.fallback_on_error

    def server(settings: EndpointSettings, slots: int, fail_fast: bool) -> ExtractionProvider:
        provider = create_provider(settings)
        policy = RetryPolicy.for_endpoint(settings, fail_fast_when_unreachable=fail_fast)
        inner = wrap_pool(provider, slots) if wrap_pool else provider
        return ResilientProvider(inner, policy, on_outage=log)

    provider: ExtractionProvider
    if replicas and len(replicas) > 1:
        # A replica that is down hands the call back at once, and the fleet sends it to another.
        members = [(server(s, n, True), n) for s, n in replicas]
        provider = FleetProvider(members, fail_fast_when_unreachable=fail_fast)
    else:
        provider = server(endpoint, slots, fail_fast)
    if fallback is not None:
        provider = FallbackProvider(provider, server(*fallback, False))
    if cache is not None:
        provider = CachedProvider(provider, cache)
    return provider
