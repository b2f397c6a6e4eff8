"""Retries and a fallback model around an image description (kg_pipeline/providers/vision.py
sends one request): the same recovery an extraction gets from resilient.py and fallback.py, with
their retry policy and failure kinds, for a call that returns text rather than an extraction.

A description is one call per image with nothing to re-ask and no outage to share with other
chunks, so this is a plain loop rather than a provider stack: transport failures and retryable
HTTP statuses are retried with backoff (honouring ``Retry-After``); once they are spent, or on an
empty answer, the fallback endpoint (typically a cloud model) is asked, when its settings say to
fall back on that kind of failure, and the description records which endpoint failed, why, and
the seconds it cost.
"""

from __future__ import annotations

import asyncio
import random
import time

from kg_pipeline.middleware.fallback import failure_kind
from kg_pipeline.middleware.resilient import RetryPolicy, is_retryable
from kg_pipeline.providers.base import (
    EndpointSettings,
    MalformedOutput,
    ProviderError,
    ProviderUnavailable,
)
from kg_pipeline.providers.vision import Description, describe_once, vision_request


async def _describe_with_retries(
    settings: EndpointSettings, image: bytes, mime: str, prompt: str
) -> Description:
    request = vision_request(settings, image, mime, prompt)
    policy = RetryPolicy(max_retries=settings.max_retries)
    rng = random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            description = await describe_once(request)
            break
        except ProviderUnavailable as exc:
            if attempt > policy.max_retries or not is_retryable(exc):
                raise
            wait = max(exc.retry_after or 0.0, policy.backoff(attempt - 1, rng))
            await asyncio.sleep(min(wait, policy.max_delay_seconds))
    return description.model_copy(update={"attempts": attempt})


def _falls_back_on(settings: EndpointSettings, kind: str) -> bool:
    return settings.fallback_on_timeout if kind == "timeout" else settings.fallback_on_error


async def describe_image(
    settings: EndpointSettings,
    image: bytes,
    mime: str,
    prompt: str,
    fallback: EndpointSettings | None = None,
) -> Description:
    """Describe ``image`` with the vision model at ``settings``; when that fails (after its
    retries) and a ``fallback`` is given — typically a cloud model — ask the fallback, and
    record on the description which endpoint failed, why and what it cost in seconds."""
    started = time.perf_counter()
    try:
        return await _describe_with_retries(settings, image, mime, prompt)
    except ProviderError as exc:
        kind = failure_kind(exc)
        if fallback is None or not _falls_back_on(settings, kind):
            raise
        lost = time.perf_counter() - started
        primary_error = exc
    try:
        description = await _describe_with_retries(fallback, image, mime, prompt)
    except ProviderError as exc:
        message = f"{primary_error}; the fallback failed too: {exc}"
        if isinstance(exc, ProviderUnavailable):
            raise ProviderUnavailable(
                message, status_code=exc.status_code, timed_out=exc.timed_out
            ) from exc
        raise MalformedOutput(message, exc.stats) from exc
    return description.model_copy(
        update={
            "fallback_from": settings.name,
            "fallback_reason": kind,
            "fallback_added_seconds": lost,
        }
    )
