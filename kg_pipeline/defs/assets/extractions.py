"""`extractions`: one set of chunk extraction records per model endpoint."""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import dagster as dg
from pydantic import Field

from kg_pipeline.contract.vocabulary import Vocabulary, resolve_vocabulary
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.defs.assets.analytics import record_extraction_analytics
from kg_pipeline.defs.assets.extraction_metadata import extraction_metadata, fail_if_incomplete
from kg_pipeline.defs.model_observations import observe_status
from kg_pipeline.defs.pools import EndpointPools, endpoint_pools
from kg_pipeline.defs.resources import ModelEndpoint, ModelRegistry
from kg_pipeline.defs.results_files import results_dir, write_atomically
from kg_pipeline.extraction import telemetry
from kg_pipeline.extraction.extract import DEFAULT_OPTIONS, ExtractionOptions, extract_chunks
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.routing import Router, load_router
from kg_pipeline.middleware.cached import CachedProvider, ResponseCache
from kg_pipeline.middleware.live import LiveProvider, Switch
from kg_pipeline.middleware.stack import provider_stack
from kg_pipeline.providers import EndpointSettings, ExtractionProvider
from kg_pipeline.serving.model_status import endpoint_status
from kg_pipeline.store.cache import SqlResponseCache
from kg_pipeline.store.config import ConfigError, ModelConfig
from kg_pipeline.store.database import create_engine

# How many model-driving steps (extractions, the serving benchmark) run at once, instance-wide: with
# the default limit of 1 (dagster.yaml) a benchmark never measures a server an extraction is also
# using. Each request besides holds a slot of its server's own pool (kg_pipeline/defs/pools.py), so
# raising this limit lets models on different GPUs work side by side without any GPU taking more
# requests than its slots.
MODEL_POOL = "model_endpoints"

# Extraction runs inside assets (the benchmark) and inside the ingest op (`kg ingest`).
RunContext = dg.AssetExecutionContext | dg.OpExecutionContext


def routed_name(partition: str) -> str:
    """Where a routed run's results go: beside, not over, the model's own single-model run."""
    return f"{partition}+routed"


class ExtractionsConfig(dg.Config):
    max_chunks: int | None = Field(
        default=None, ge=1, description="Extract only the first N chunks (smoke runs)."
    )
    vocabulary: str | None = Field(
        default=None,
        description="base31 (default), kg60, kg90, or the path of a JSON vocabulary file.",
    )
    use_cache: bool = Field(
        default=True,
        description="Answer unchanged chunks from the response cache (false: always call).",
    )
    routed: bool = Field(
        default=False,
        description="Send each chunk to the model the routing rules choose (`kg admin routing`); "
        "chunks no rule places go to this partition's model. Records keep each decision.",
    )


# A Dagster log line costs milliseconds (it is an event, stored); against a fast server a line
# per chunk would slow the run, so at most one per interval — failures and the last chunk always.
PROGRESS_INTERVAL_SECONDS = 1.0


def _progress_logger(context: RunContext) -> Any:
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


def extraction_options(config: ModelConfig) -> ExtractionOptions:
    """The extraction step's switches as the model's configuration sets them. They hold for the
    whole run: a run's records are comparable only if one prompt version produced them all."""
    return ExtractionOptions(
        prompt_version=config.options.prompt_version,
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
) -> list[ChunkExtraction]:
    """Extract every chunk with the registered ``model``, its row as the caller read it for the
    run; as each chunk starts, the row's version is checked, so a change applies from the next
    chunk. ``follow_active``: follow whichever model is active instead (a switch from the CLI
    moves the run to another model).

    ``routed``: each chunk goes to the model the routing rules choose for it (`kg admin
    routing`), and to ``model`` (or the active model) when no rule places it; each record keeps
    its routing decision."""
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

    options = extraction_options(model)
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


def _observe_model_status(context: dg.AssetExecutionContext, model: ModelConfig) -> None:
    """What the model's servers have loaded, and its memory, as an observation beside the
    materialization. Informational: a server that cannot say never fails the run."""
    try:
        status = asyncio.run(endpoint_status(model))
        for observation in observe_status(context, [status]):
            context.log_event(observation)
    except Exception as exc:
        context.log.warning(f"model status not observed: {exc}")


def build_extractions_asset(models: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """`extractions`, one partition per registered model."""

    @dg.asset(
        group_name="extract",
        partitions_def=models,
        pool=MODEL_POOL,
        kinds={"python", "llm"},
    )
    def extractions(
        context: dg.AssetExecutionContext,
        config: ExtractionsConfig,
        model_registry: ModelRegistry,
        chunks: list[Chunk],
    ) -> list[ChunkExtraction]:
        """One extraction record per chunk for the partition's model: the validated Extraction,
        or the failure with the raw model output kept; with call statistics."""
        model = registered_model(model_registry, context.partition_key)
        vocabulary = resolve_vocabulary(config.vocabulary)
        selected = chunks[: config.max_chunks] if config.max_chunks else chunks
        context.log.info(
            f"extracting {len(selected)} chunks with {model.model_name} at {model.base_url} "
            f"({model.max_concurrent_requests} in flight)"
        )
        records = run_extraction(
            context,
            model_registry,
            model,
            selected,
            vocabulary,
            config.use_cache,
            config.routed,
        )
        record_extraction_analytics(
            context, records, f"extractions:{context.partition_key}", model_registry
        )
        _observe_model_status(context, model)
        stem = routed_name(context.partition_key) if config.routed else context.partition_key
        out = results_dir() / "extractions" / f"{stem}.jsonl"
        write_atomically(out, "".join(r.model_dump_json() + "\n" for r in records))
        metadata = extraction_metadata(records, model.model_name, vocabulary.name, out)
        fail_if_incomplete(context, records, metadata)
        context.add_output_metadata(metadata)
        return records

    return extractions
