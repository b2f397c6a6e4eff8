"""What the HTTP providers share: one client per endpoint, timing, and error translation."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time
from typing import Any

import httpx

from kg_pipeline.providers.base import (
    CallStats,
    EndpointSettings,
    MalformedOutput,
    ProviderResult,
    ProviderUnavailable,
    TruncatedOutput,
)
from kg_pipeline.providers.parsing import OutputParseError, parse_extraction
from kg_pipeline.providers.redaction import header_secrets, redact

# How much of a server's error body a message keeps: enough for the server's own explanation,
# short enough for a log line. Cut only after the key is redacted (see
# kg_pipeline/providers/redaction.py).
ERROR_BODY_CHARS = 500
NON_JSON_CHARS = 200


def make_client(settings: EndpointSettings) -> httpx.AsyncClient:
    headers = {}
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
    timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
    return httpx.AsyncClient(
        base_url=settings.base_url.rstrip("/"), headers=headers, timeout=timeout
    )


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    json_body: Any | None = None,
    total: float | None = None,
) -> tuple[dict[str, Any], float]:
    """One request; returns the decoded body and its wall time, or a ProviderUnavailable that
    names the URL and what to do about it. ``total`` caps the whole request: httpx has no such
    limit, and a server dripping bytes never trips its read timeout."""
    url = f"{client.base_url}{path}"
    started = time.perf_counter()
    try:
        response = await asyncio.wait_for(client.request(method, path, json=json_body), total)
    except TimeoutError as exc:
        raise ProviderUnavailable(
            f"{url} took longer than the total limit of {total}s; raise total_timeout_seconds "
            "or check the server's load",
            timed_out=True,
        ) from exc
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(
            f"{url} did not answer within {client.timeout.read}s ({type(exc).__name__}); "
            "raise timeout_seconds for slow models or check the server's load",
            timed_out=True,
        ) from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(
            f"cannot reach {url}: {transport_failure(exc)}; is the server running? "
            "(for the embedded model: `kg local start`)"
        ) from exc
    elapsed = time.perf_counter() - started
    if response.status_code >= 400:
        raise HTTPStatusUnavailable(
            url,
            response.status_code,
            redact(response.text, header_secrets(client.headers), ERROR_BODY_CHARS),
            retry_after_seconds(response.headers.get("Retry-After")),
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderUnavailable(
            f"{url} answered with non-JSON: "
            f"{redact(response.text, header_secrets(client.headers), NON_JSON_CHARS)!r}"
        ) from exc
    if not isinstance(body, dict):
        raise ProviderUnavailable(
            f"{url} answered with a JSON {type(body).__name__}, not an object"
        )
    return body, elapsed


def transport_failure(exc: httpx.TransportError) -> str:
    """What the socket said ("connection refused"), which httpx's own message ("All connection
    attempts failed") hides a few causes down."""
    cause: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; the bound guards against a cycle
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


class HTTPStatusUnavailable(ProviderUnavailable):
    def __init__(
        self, url: str, status_code: int, body: str, retry_after: float | None = None
    ) -> None:
        super().__init__(
            f"{url} answered HTTP {status_code}: {body}",
            status_code=status_code,
            retry_after=retry_after,
        )
        self.body = body


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def finish(content: str, stats: CallStats, truncated: bool, thinking: str = "") -> ProviderResult:
    """Validate the answer; a truncated or invalid one raises with its stats (raw text kept)."""
    if not content.strip() and thinking:
        # Reasoning models (gpt-oss) can spend the whole budget thinking; their thoughts are
        # not the answer, however JSON-like they look.
        raise MalformedOutput(
            "the model answered only in its thinking/reasoning channel (empty content); lower "
            "thinking_mode or raise max_output_tokens",
            stats,
        )
    if truncated:
        raise TruncatedOutput(
            f"generation hit the output budget ({stats.completion_tokens} tokens) before the "
            "JSON was complete; raise max_output_tokens",
            stats,
        )
    try:
        parsed = parse_extraction(content)
    except OutputParseError as exc:
        stats.parse_failure = exc.kind
        raise MalformedOutput(str(exc), stats) from exc
    stats.repairs = list(parsed.repairs)
    return ProviderResult(extraction=parsed.extraction, stats=stats)
