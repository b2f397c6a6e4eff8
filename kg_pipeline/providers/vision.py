"""Image -> text description, for `kg ingest image`: the vision half of image ingestion.

A description is free text, not an extraction, so it does not go through the extraction
interface; it shares that interface's pieces instead: ``request_json`` (timeouts, redaction,
Retry-After) and the provider errors. This module sends one request; the retries and the
fallback model around it are middleware (kg_pipeline/middleware/vision.py), as for extractions.

Each wire protocol takes the image in its own shape; ``VISION_WIRE_FORMATS`` maps a protocol to
it, a provider reaches it through the protocol the registry gives it, and nothing outside this
module knows the shapes:

- Ollama ``/api/chat``: base64 in the message's ``images`` list;
- OpenAI-compatible ``/v1/chat/completions`` (vLLM, llama.cpp, OpenAI): an ``image_url`` content
  part holding a ``data:`` URL;
- Anthropic ``/v1/messages``: an ``image`` content block with a base64 ``source``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from kg_pipeline.providers.anthropic import ANTHROPIC_VERSION
from kg_pipeline.providers.base import EndpointSettings, MalformedOutput, ProviderUnavailable
from kg_pipeline.providers.http import make_client, request_json
from kg_pipeline.providers.redaction import redact
from kg_pipeline.providers.registry import WireProtocol, provider_spec

# A description of a dense slide runs to a few hundred words; more is the model rambling.
DESCRIPTION_BUDGET = 2048


class Description(BaseModel):
    """What the vision model said about one image, and what it cost."""

    text: str
    endpoint: str
    model: str
    seconds: float  # wall time of the call that answered
    prompt_tokens: int | None = None
    tokens: int | None = None  # output tokens, as the server counted them
    finish_reason: str | None = None
    attempts: int = 1
    # Set when the primary vision endpoint failed and the fallback described the image.
    fallback_from: str | None = None
    fallback_reason: str | None = None
    fallback_added_seconds: float = 0.0


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None


class VisionWireFormat(Protocol):
    path: str

    def client(self, settings: EndpointSettings) -> httpx.AsyncClient: ...

    def build_request(
        self, settings: EndpointSettings, prompt: str, mime: str, encoded: str
    ) -> dict[str, Any]: ...

    def read_answer(self, body: dict[str, Any]) -> Answer: ...


class OllamaVision:
    path = "/api/chat"

    def client(self, settings: EndpointSettings) -> httpx.AsyncClient:
        return make_client(settings)

    def build_request(
        self, settings: EndpointSettings, prompt: str, mime: str, encoded: str
    ) -> dict[str, Any]:
        options: dict[str, Any] = {
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "num_predict": min(settings.output_budget, DESCRIPTION_BUDGET),
        }
        if settings.seed is not None:
            options["seed"] = settings.seed
        if settings.gpu_layers >= 0:
            options["num_gpu"] = settings.gpu_layers
        return {
            "model": settings.model,
            "messages": [{"role": "user", "content": prompt, "images": [encoded]}],
            "stream": False,
            "keep_alive": settings.keep_alive,
            "options": options,
        }

    def read_answer(self, body: dict[str, Any]) -> Answer:
        message = body.get("message") or {}
        return Answer(
            message.get("content") or "",
            body.get("prompt_eval_count"),
            body.get("eval_count"),
            body.get("done_reason"),
        )


class OpenAICompatibleVision:
    path = "/v1/chat/completions"

    def client(self, settings: EndpointSettings) -> httpx.AsyncClient:
        return make_client(settings)

    def build_request(
        self, settings: EndpointSettings, prompt: str, mime: str, encoded: str
    ) -> dict[str, Any]:
        content = [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{encoded}"}},
        ]
        payload: dict[str, Any] = {
            "model": settings.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": min(settings.output_budget, DESCRIPTION_BUDGET),
            "stream": False,
        }
        if settings.seed is not None:
            payload["seed"] = settings.seed
        return payload

    def read_answer(self, body: dict[str, Any]) -> Answer:
        choice = (body.get("choices") or [{}])[0]
        content = (choice.get("message") or {}).get("content") or ""
        if isinstance(content, list):  # some servers answer in content parts too
            content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
        usage = body.get("usage") or {}
        return Answer(
            content,
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            choice.get("finish_reason"),
        )


class AnthropicVision:
    path = "/v1/messages"

    def client(self, settings: EndpointSettings) -> httpx.AsyncClient:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if settings.api_key is not None:
            headers["x-api-key"] = settings.api_key.get_secret_value()
        timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
        return httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"), headers=headers, timeout=timeout
        )

    def build_request(
        self, settings: EndpointSettings, prompt: str, mime: str, encoded: str
    ) -> dict[str, Any]:
        source = {"type": "base64", "media_type": mime, "data": encoded}
        return {
            "model": settings.model,
            "max_tokens": min(settings.output_budget, DESCRIPTION_BUDGET),
            "temperature": settings.temperature,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": source},
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
        }

    def read_answer(self, body: dict[str, Any]) -> Answer:
        blocks = [b for b in body.get("content") or [] if isinstance(b, dict)]
        usage = body.get("usage") or {}
        return Answer(
            "".join(b.get("text") or "" for b in blocks if b.get("type") == "text"),
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            body.get("stop_reason"),
        )


VISION_WIRE_FORMATS: dict[WireProtocol, VisionWireFormat] = {
    "ollama": OllamaVision(),
    "openai": OpenAICompatibleVision(),
    "anthropic": AnthropicVision(),
}


def _redacted(error: ProviderUnavailable, settings: EndpointSettings) -> ProviderUnavailable:
    """A message naming the endpoint says which model failed. ``request_json`` already cut the
    client's credentials out; the configured key is cut again in case a wire format sends it
    some other way."""
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    return ProviderUnavailable(
        f"vision model {settings.model!r} ({settings.name}): {redact(str(error), [key])}",
        status_code=error.status_code,
        retry_after=error.retry_after,
        timed_out=error.timed_out,
    )


@dataclass(frozen=True)
class VisionRequest:
    """One image description request, built once and sent as often as retries need."""

    settings: EndpointSettings
    wire: VisionWireFormat
    payload: dict[str, Any]


def vision_request(
    settings: EndpointSettings, image: bytes, mime: str, prompt: str
) -> VisionRequest:
    """The request asking the model at ``settings`` to describe ``image``, in the shape of the
    protocol its provider speaks."""
    wire = VISION_WIRE_FORMATS[provider_spec(settings.provider).protocol]
    encoded = base64.b64encode(image).decode("ascii")
    return VisionRequest(settings, wire, wire.build_request(settings, prompt, mime, encoded))


async def describe_once(request: VisionRequest) -> Description:
    """Send ``request`` once: a ``ProviderUnavailable`` (redacted, naming the endpoint) when the
    server cannot be reached or refuses, a ``MalformedOutput`` when it describes nothing."""
    settings, wire = request.settings, request.wire
    async with wire.client(settings) as client:
        try:
            body, elapsed = await request_json(
                client, "POST", wire.path, request.payload, settings.total_timeout_seconds
            )
        except ProviderUnavailable as exc:
            # from None: the original message may hold the unredacted body.
            raise _redacted(exc, settings) from None
    answer = wire.read_answer(body)
    if not answer.text.strip():
        raise MalformedOutput(
            f"vision model {settings.model!r} ({settings.name}) answered with an empty "
            "description; check that the model takes images (e.g. llava, qwen2.5vl, gpt-4o)"
        )
    return Description(
        text=answer.text.strip(),
        endpoint=settings.name,
        model=settings.model,
        seconds=elapsed,
        prompt_tokens=answer.prompt_tokens,
        tokens=answer.completion_tokens,
        finish_reason=answer.finish_reason,
    )
