"""An extraction run inside a Dagster step: the `extractions` asset, the `kg ingest` ops and the
baseline all extract through here. It reads the model's row, builds its provider stack
(kg_pipeline/middleware/stack.py) with the step's endpoint pools and the response cache, follows
a configuration switch from chunk to chunk, logs progress, and records what the run cost.

Kept apart from the asset modules so that none of them imports another for its helpers."""

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import dagster as dg

from kg_pipeline.contract.vocabulary import Vocabulary
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.defs.pools import EndpointPools, endpoint_pools
from kg_pipeline.defs.resources import ModelEndpoint, ModelRegistry
from kg_pipeline.extraction import telemetry
from kg_pipeline.extraction.extract import (
    DEFAULT_OPTIONS,
    ExtractionOptions,
    ProgressCallback,
    extract_chunks,
)
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.routing import Router, load_router
from kg_pipeline.extraction.run_analytics import ModelRef, summarise_run
from kg_pipeline.middleware.cached import CachedProvider, ResponseCache
from kg_pipeline.middleware.live import LiveProvider, Switch
from kg_pipeline.middleware.stack import provider_stack
from kg_pipeline.providers import EndpointSettings, ExtractionProvider
from kg_pipeline.store.analytics import AnalyticsRow, dollars, record_run, total
from kg_pipeline.store.cache import SqlResponseCache
from kg_pipeline.store.config import ConfigError, ConfigStore, ModelConfig
from kg_pipeline.store.database import create_engine

# How many model-driving steps (extractions, the serving benchmark) run at once, instance-wide: with
# the default limit of 1 (dagster.yaml) a benchmark never measures a server an extraction is also
# using. Each request besides holds a slot of its server's own pool (kg_pipeline/defs/pools.py), so
# raising this limit lets models on different GPUs work side by side without any GPU taking more
# requests than its slots.
MODEL_POOL = "model_endpoints"

# Extraction runs inside assets (the benchmark) and inside the ingest op (`kg ingest`).
RunContext = dg.AssetExecutionContext | dg.OpExecutionContext

# A Dagster log line costs milliseconds (it is an event, stored); against a fast server a line
# per chunk would slow the run, so at most one per interval — failures and the last chunk always.
PROGRESS_INTERVAL_SECONDS = 1.0


def routed_name(partition: str) -> str:
    """Where a routed run's results go: beside, not over, the model's own single-model run."""
    return f"{partition}+routed"


def _progress_logger(context: RunContext) -> ProgressCallback:
    last = 0.0

    def log(done: int, total: int, record: ChunkExtraction) -> None:
        nonlocal last
        now = time.monotonic()
        failed = record.status is not ExtractionStatus.VALID
        if not (failed or done == total or now - last >= PROGRESS_INTERVAL_SECONDS):
            return
        last = now
        stats = record.stats
        timing = f" in {stats.wall_seconds:.1f}s" if stats else ""
        tokens = (
            f", {stats.completion_tokens} output tokens"
            if stats and stats.completion_tokens
            else ""
        )
        detail = f": {record.error}" if record.error else ""
        context.log.info(
            f"[{done}/{total}] {record.chunk_id} {record.status.value}{timing}{tokens} "
            f"({record.model}){detail}"
        )

    return log


def _endpoint_stack(
    endpoint: ModelEndpoint,
    fallback: ModelEndpoint | None,
    cache: ResponseCache | None,
    replicas: list[tuple[EndpointSettings, int]] | None,
    pools: EndpointPools | None,
    log: Callable[[str], None],
) -> ExtractionProvider:
    """``provider_stack`` for Dagster's endpoint resources, pooled through the step's pools."""
    return provider_stack(
        endpoint.settings,
        endpoint.max_concurrent_requests,
        fallback=(fallback.settings, fallback.max_concurrent_requests) if fallback else None,
        cache=cache,
        replicas=replicas,
        wrap_pool=pools.wrap if pools else None,
        log=log,
    )


def _extract(
    context: RunContext,
    current: Callable[[], ExtractionProvider] | None,
    built: Callable[[], list[ExtractionProvider]],
    chunks: list[Chunk],
    vocabulary: Vocabulary,
    route: Router | None = None,
    options: ExtractionOptions = DEFAULT_OPTIONS,
) -> list[ChunkExtraction]:
    async def run() -> list[ChunkExtraction]:
        try:
            return await extract_chunks(
                current,
                chunks,
                vocabulary,
                on_done=_progress_logger(context),
                route=route,
                options=options,
            )
        finally:
            for provider in built():
                await provider.aclose()

    records = asyncio.run(run())
    caches = [p for p in built() if isinstance(p, CachedProvider)]
    if caches:
        hits, misses = sum(c.hits for c in caches), sum(c.misses for c in caches)
        context.log.info(f"response cache: {hits} hits, {misses} misses")
    return records


def extraction_options(config: ModelConfig, prompt_version: str | None = None) -> ExtractionOptions:
    """The extraction step's switches as the model's configuration sets them, the prompt version
    unless the run names its own. They hold for the whole run: a run's records are comparable
    only if one prompt version produced them all."""
    return ExtractionOptions(
        prompt_version=prompt_version or config.options.prompt_version,
        ground_quotes=config.options.ground_quotes,
        gleaning=config.options.gleaning,
    )


def registered_model(registry: ModelRegistry, name: str | None) -> ModelConfig:
    """A run's one read of its model's row (None: the active model); without one the run fails
    with the store's advice (how to register or activate a model)."""
    try:
        return registry.model(name)
    except ConfigError as exc:
        raise dg.Failure(str(exc)) from exc


def run_extraction(
    context: RunContext,
    registry: ModelRegistry,
    model: ModelConfig,
    chunks: list[Chunk],
    vocabulary: Vocabulary,
    use_cache: bool = True,
    routed: bool = False,
    follow_active: bool = False,
    prompt_version: str | None = None,
) -> list[ChunkExtraction]:
    """Extract every chunk with the registered ``model``, its row as the caller read it for the
    run; as each chunk starts, the row's version is checked, so a change applies from the next
    chunk. ``follow_active``: follow whichever model is active instead (a switch from the CLI
    moves the run to another model).

    ``routed``: each chunk goes to the model the routing rules choose for it (`kg admin
    routing`), and to ``model`` (or the active model) when no rule places it; each record keeps
    its routing decision. ``prompt_version``: this run's, instead of the model's own."""
    store = registry.store()
    cache = SqlResponseCache(store.engine) if use_cache else None
    pools = endpoint_pools(context)
    followed = None if follow_active else model.name

    def build(config: ModelConfig) -> ExtractionProvider:
        endpoint = ModelEndpoint.from_config(config)
        endpoint.ensure_server(context.log)
        fallback_name = config.options.fallback_endpoint
        fallback = registry.endpoint(fallback_name) if fallback_name else None
        return _endpoint_stack(
            endpoint, fallback, cache, config.replica_settings(), pools, context.log.warning
        )

    def announce(switch: Switch) -> None:
        telemetry.observe_switch(switch.name, switch.model)
        context.log.info(
            f"configuration changed: the next chunks use {switch.model} ({switch.name}, "
            f"version {switch.version})"
        )

    options = extraction_options(model, prompt_version)
    context.log.info(
        f"extraction options: prompt {options.prompt_version}, quote grounding "
        f"{'on' if options.ground_quotes else 'off'}, gleaning passes {options.gleaning}"
    )
    if routed:
        try:
            router = load_router(store, build, default=followed)
        except ConfigError as exc:
            raise dg.Failure(str(exc)) from exc
        records = _extract(context, None, lambda: router.built, chunks, vocabulary, router, options)
        rules = Counter(r.routing.rule_name or "default" for r in records if r.routing)
        context.log.info(f"routing: {dict(rules)}")
        return records

    live = LiveProvider(
        model,
        lambda: store.named_or_active(followed),
        lambda: store.version(followed),
        build,
        on_switch=announce,
    )
    try:
        live.current()  # fail before the first chunk when the fallback is not registered
    except ConfigError as exc:
        raise dg.Failure(str(exc)) from exc
    # With the exporter on (KG_METRICS_PORT), kg_endpoint_up follows the server during the run.
    probes = (
        telemetry.start_endpoint_probes([model.settings()]) if telemetry.metrics_enabled() else None
    )
    try:
        return _extract(
            context, live.current, lambda: live.built, chunks, vocabulary, options=options
        )
    finally:
        if probes is not None:
            probes.set()


def run_endpoint_extraction(
    context: RunContext,
    endpoint: ModelEndpoint,
    chunks: list[Chunk],
    vocabulary: Vocabulary,
    use_cache: bool = True,
) -> list[ChunkExtraction]:
    """Extract every chunk with one fixed endpoint (the cloud baseline, which is not a
    registered model)."""
    endpoint.ensure_server(context.log)
    cache = SqlResponseCache(create_engine()) if use_cache else None
    provider = _endpoint_stack(
        endpoint, None, cache, None, endpoint_pools(context), context.log.warning
    )
    return _extract(context, lambda: provider, lambda: [provider], chunks, vocabulary)


def fallback_models(store: ConfigStore, records: list[ChunkExtraction]) -> dict[str, ModelRef]:
    """The model behind each failed endpoint's fallback, read from the configuration store (the
    call statistics name only the endpoint that failed)."""
    found: dict[str, ModelRef] = {}
    failed = {r.stats.fallback_from for r in records if r.stats and r.stats.fallback_from}
    for name in sorted(failed):
        primary = store.find(name)
        target = primary.options.fallback_endpoint if primary else None
        fallback = store.find(target) if target else None
        if fallback is not None:
            found[name] = ModelRef(fallback.provider, fallback.model_name, fallback.name)
    return found


def describe_run(rows: list[AnalyticsRow]) -> str:
    """One log line: the run's cost, then each model's share."""
    whole = total(rows)
    parts = [
        f"{r.provider}/{r.model} {r.chunks} chunks {dollars(r.cost_usd)}"
        + (f" {r.gpu_hours:.3f} GPU h" if r.gpu_hours else "")
        for r in rows
    ]
    cost = dollars(whole.cost_usd)
    return f"extraction cost {cost} for {whole.chunks} chunks ({'; '.join(parts)})"


def record_extraction_analytics(
    context: RunContext,
    records: list[ChunkExtraction],
    source: str,
    registry: ModelRegistry | None = None,
) -> list[AnalyticsRow]:
    """Summarise the run's records, store them (in the configuration store's database) and log
    one line with the cost. A database that cannot be written is a warning, not a failed run:
    the extractions are the product, the analytics a report on them."""
    if not records:
        return []
    rows: list[AnalyticsRow] = []
    try:
        store = registry.store() if registry is not None else ConfigStore()
        rows = summarise_run(records, fallback_models(store, records))
        record_run(store.engine, rows, context.run.run_id, source)
    except Exception as exc:  # a database or price file failure: keep the run, say what's lost
        detail = f"; {describe_run(rows)}" if rows else ""
        context.log.warning(f"extraction analytics not recorded ({exc}){detail}")
        return rows
    context.log.info(describe_run(rows))
    return rows
