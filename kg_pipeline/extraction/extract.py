"""Chunks -> extractions for one endpoint: bounded concurrency, one record per chunk, always.

Every chunk yields exactly one ``ChunkExtraction``, valid or failed, so a run never drops a chunk
silently and re-running replaces records rather than adding to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kg_pipeline.contract.messages import PROMPT_VERSION
from kg_pipeline.contract.schema import Extraction
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, Vocabulary
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.extraction import telemetry
from kg_pipeline.extraction.grounding import ground_extraction
from kg_pipeline.extraction.merging import merge_as_extraction
from kg_pipeline.extraction.named_answers import NamedAnswerSummary, resolve_named_answer
from kg_pipeline.extraction.prompts import decoding_schema, prompt_spec
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.routing import RoutingDecision
from kg_pipeline.providers import (
    CallStats,
    ExtractionProvider,
    MalformedOutput,
    ProviderError,
    ProviderResult,
    TruncatedOutput,
)


@dataclass(frozen=True)
class ExtractionOptions:
    """The switches of the extraction step, each measured on its own in
    benchmarks/redocred_quality.py.

    - ``prompt_version``: which prompt and decoding schema (kg_pipeline/extraction/prompts/).
    - ``ground_quotes``: replace each quote with the exact source span it copies, recording its
      offsets, and drop instances whose quote is not in the chunk
      (kg_pipeline/extraction/grounding.py).
    - ``gleaning``: extra passes asking for what the answer missed, merged into it; each costs a
      model call per chunk.
    """

    prompt_version: str = PROMPT_VERSION
    ground_quotes: bool = True
    gleaning: int = 0


DEFAULT_OPTIONS = ExtractionOptions()


ProgressCallback = Callable[[int, int, ChunkExtraction], None]
# Chooses the provider for one chunk, and says why (see kg_pipeline/extraction/routing.py
# ``Router``).
Route = Callable[[Chunk], tuple[ExtractionProvider, RoutingDecision]]


def _status_of(error: ProviderError) -> ExtractionStatus:
    if isinstance(error, TruncatedOutput):
        return ExtractionStatus.TRUNCATED
    if isinstance(error, MalformedOutput):
        return ExtractionStatus.MALFORMED
    return ExtractionStatus.UNAVAILABLE


def _answer_text(result: ProviderResult) -> str:
    """The answer as the model wrote it, for a gleaning follow-up; the parsed extraction when the
    stored text is only the head and tail of a long answer (``CallStats.raw_text_chars``): a cut
    answer shown back to the model would read as one it wrote unfinished."""
    if result.stats.raw_text and result.stats.raw_text_chars is None:
        return result.stats.raw_text
    return result.extraction.model_dump_json()


async def extract_chunk(
    provider: ExtractionProvider,
    chunk: Chunk,
    vocabulary: Vocabulary = BASE_VOCABULARY,
    schema: dict[str, Any] | None = None,
    options: ExtractionOptions = DEFAULT_OPTIONS,
) -> ChunkExtraction:
    """``schema`` is the decoding schema of the vocabulary and prompt version, passed in when
    extracting many chunks so that it is built once per run."""
    settings = provider.settings
    common = {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "endpoint": settings.name,
        "provider": settings.provider,
        "model": settings.model,
        "vocabulary": vocabulary.name,
        "prompt_version": options.prompt_version,
    }
    prompt = prompt_spec(options.prompt_version)
    schema = schema or prompt.decoding_schema(vocabulary)
    messages = prompt.build_messages(chunk.text, vocabulary)
    started = time.perf_counter()
    try:
        result = await provider.extract(messages, schema)
    except ProviderError as exc:
        # A failure's seconds are the chunk's whole wait (retries, backoffs, a down endpoint's
        # cooldowns), not the last call's: that is what the failure cost the run.
        stats = exc.stats or CallStats(wall_seconds=0.0)
        stats.wall_seconds = time.perf_counter() - started
        return ChunkExtraction(**common, status=_status_of(exc), error=str(exc), stats=stats)
    named_summary = NamedAnswerSummary() if prompt.answer_shape == "named" else None

    def read(answer: Extraction) -> Extraction:
        if named_summary is None:
            return answer
        resolved, summary = resolve_named_answer(answer)
        named_summary.add(summary)
        return resolved

    extraction = read(result.extraction)
    gleaned: list[CallStats] = []
    gleaning_error = None
    answer = _answer_text(result)
    passes = [extraction]
    for _ in range(options.gleaning):
        messages = messages.with_followup(answer, prompt.gleaning_request)
        try:
            more = await provider.extract(messages, schema)
        except ProviderError as exc:
            # The first pass stands: gleaning only ever adds to it.
            gleaning_error = str(exc)
            if exc.stats is not None:
                gleaned.append(exc.stats)
            break
        gleaned.append(more.stats)
        passes.append(read(more.extraction))
        answer = _answer_text(more)
    if len(passes) > 1:
        extraction = merge_as_extraction(passes)
    grounding = None
    model_answer = None
    if options.ground_quotes:
        grounded = ground_extraction(extraction, chunk.text)
        model_answer, extraction, grounding = extraction, grounded.extraction, grounded.summary
    return ChunkExtraction(
        **common,
        status=ExtractionStatus.VALID,
        extraction=extraction,
        stats=result.stats,
        grounding=grounding,
        model_answer=model_answer,
        named_answer=named_summary,
        gleaning=gleaned,
        gleaning_error=gleaning_error,
    )


async def extract_chunks(
    provider: ExtractionProvider | Callable[[], ExtractionProvider] | None,
    chunks: Sequence[Chunk],
    vocabulary: Vocabulary = BASE_VOCABULARY,
    on_done: ProgressCallback | None = None,
    *,
    route: Route | None = None,
    options: ExtractionOptions = DEFAULT_OPTIONS,
) -> list[ChunkExtraction]:
    """Extract every chunk with at most ``max_concurrent_requests`` calls in flight.

    ``provider`` may be a function returning the provider to use: it is asked again as each
    chunk starts, so a configuration switched mid-run applies from the next chunk on (the
    bound on calls in flight is the first provider's, for the whole run).

    With ``route``, each chunk's provider comes from ``route`` instead, and its record carries
    the routing decision. Each routed-to endpoint is then bounded by its own
    ``max_concurrent_requests`` (the models may sit on different servers); ``provider`` may be
    None, and when given it bounds the whole run as well.

    Every record is counted in the Prometheus metrics (kg_pipeline/extraction/telemetry.py) as it
    finishes; with ``KG_METRICS_PORT`` set, this process also serves them.
    """
    if provider is None and route is None:
        raise TypeError("extract_chunks needs a provider, or a route that chooses one per chunk")
    telemetry.start_exporter_if_enabled()
    current = provider if callable(provider) or provider is None else lambda: provider
    limit = (
        asyncio.Semaphore(current().settings.max_concurrent_requests)
        if current is not None
        else contextlib.nullcontext()
    )
    endpoint_limits: dict[str, asyncio.Semaphore] = {}
    schema = decoding_schema(vocabulary, options.prompt_version)
    done = 0

    async def routed(chunk: Chunk, route: Route) -> ChunkExtraction:
        target, decision = route(chunk)
        settings = target.settings
        bound = endpoint_limits.setdefault(
            settings.name, asyncio.Semaphore(settings.max_concurrent_requests)
        )
        async with bound:
            record = await extract_chunk(target, chunk, vocabulary, schema, options)
        return record.model_copy(update={"routing": decision})

    async def one(chunk: Chunk) -> ChunkExtraction:
        nonlocal done
        async with limit:
            if route is not None:
                record = await routed(chunk, route)
            else:
                assert current is not None  # checked on entry
                record = await extract_chunk(current(), chunk, vocabulary, schema, options)
        done += 1
        telemetry.observe_record(record)
        if on_done is not None:
            on_done(done, len(chunks), record)
        return record

    return list(await asyncio.gather(*(one(c) for c in chunks)))
