"""`baseline`: what every model is measured against."""

import datetime as dt
import os

import dagster as dg
from pydantic import Field

from kg_pipeline.contract.messages import PROMPT_VERSION
from kg_pipeline.contract.vocabulary import resolve_vocabulary
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.corpus.documents import Document
from kg_pipeline.defs.corpus_vocabulary import run_vocabulary
from kg_pipeline.defs.extraction_run import record_extraction_analytics, run_endpoint_extraction
from kg_pipeline.defs.resources import ModelEndpoint, ModelRegistry
from kg_pipeline.defs.results_files import results_dir
from kg_pipeline.extraction.baseline import (
    Baseline,
    BaselineStore,
    RecordingMeta,
    chunks_fingerprint,
    curated_baseline,
    model_baseline,
)
from kg_pipeline.extraction.outcome import incomplete_run_message
from kg_pipeline.extraction.records import ExtractionStatus
from kg_pipeline.providers.base import EndpointFields
from kg_pipeline.settings import BASELINE_BASE_URL, BASELINE_MODEL
from kg_pipeline.store.config import ConfigError

CLOUD_BASELINE_KEY = "cloud_baseline"  # the resource key: the asset's parameter name


def cloud_baseline_endpoint() -> ModelEndpoint:
    """GPT-4o by default; the key is read from the environment at run time, never stored."""
    has_key = bool(os.environ.get("OPENAI_API_KEY"))
    cloud = EndpointFields(
        name="cloud-baseline",
        provider="openai",
        base_url=BASELINE_BASE_URL.get(),
        model=BASELINE_MODEL.get(),
        temperature=0.0,
        max_concurrent_requests=8,
        timeout_seconds=180,
    )
    return ModelEndpoint.from_fields(cloud, dg.EnvVar("OPENAI_API_KEY") if has_key else None)


class BaselineConfig(dg.Config):
    reference_endpoint: str | None = Field(
        default=None,
        description="Record this registered model (e.g. a 70B model on vLLM) as the reference "
        "instead of the cloud model.",
    )
    use_curated: bool = Field(
        default=False, description="Measure against the curated references even with a key."
    )
    rerecord: bool = Field(
        default=False,
        description="Record a new version even when one with the same model, prompt and chunks "
        "exists (earlier versions are kept).",
    )
    vocabulary: str | None = Field(
        default=None, description="Same as the extractions' vocabulary (name or file)."
    )


def build_baseline_asset() -> dg.AssetsDefinition:
    @dg.asset(group_name="evaluate", kinds={"python", "llm"})
    def baseline(
        context: dg.AssetExecutionContext,
        config: BaselineConfig,
        model_registry: ModelRegistry,
        cloud_baseline: ModelEndpoint,
        documents: list[Document],
        chunks: list[Chunk],
    ) -> Baseline:
        """The reference for every quality report: a recorded model (GPT-4o when OPENAI_API_KEY
        is set, or any registered model) or, without one, the curated references."""
        endpoint: ModelEndpoint | None = None
        if config.use_curated:
            pass
        elif config.reference_endpoint:
            try:
                endpoint = model_registry.endpoint(config.reference_endpoint)
            except ConfigError as exc:
                raise dg.Failure(f"reference_endpoint: {exc}") from exc
        else:
            if cloud_baseline.api_key:
                endpoint = cloud_baseline
            else:
                context.log.info("OPENAI_API_KEY is not set: measuring against curated references")
        if endpoint is None:
            result = curated_baseline(documents)
        else:
            result = _recorded_baseline(context, config, endpoint, chunks)
        context.add_output_metadata(
            {
                "kind": result.kind,
                "measured_against": result.description,
                "documents": len(result.references),
                "version": result.recording.version if result.recording else 0,
            }
        )
        return result

    return baseline


def _recorded_baseline(
    context: dg.AssetExecutionContext,
    config: BaselineConfig,
    endpoint: ModelEndpoint,
    chunks: list[Chunk],
) -> Baseline:
    vocabulary = resolve_vocabulary(run_vocabulary(context, config.vocabulary))
    store = BaselineStore(results_dir() / "baselines")
    fingerprint = chunks_fingerprint(chunks)
    version = (
        None
        if config.rerecord
        else store.find(endpoint.name, endpoint.model, PROMPT_VERSION, vocabulary.name, fingerprint)
    )
    if version is not None:
        meta, records = store.load(endpoint.name, version)
        context.log.info(f"reusing recorded baseline {endpoint.name} v{version:04d}")
        return model_baseline(meta, records)
    context.log.info(f"recording {endpoint.model} as the baseline over {len(chunks)} chunks")
    # A fresh recording is the point of rerecord: never answer it from the response cache.
    records = run_endpoint_extraction(
        context, endpoint, chunks, vocabulary, use_cache=not config.rerecord
    )
    record_extraction_analytics(context, records, "baseline")
    incomplete = incomplete_run_message(records)
    if incomplete is not None:
        # A recording is reused by every later run with the same chunks: one made during an
        # outage would stand as the baseline for good, its missing chunks scored as misses.
        raise dg.Failure(f"baseline {endpoint.model} not recorded: {incomplete}")
    meta = store.save(
        RecordingMeta(
            endpoint=endpoint.name,
            provider=endpoint.provider,
            model=endpoint.model,
            prompt_version=PROMPT_VERSION,
            vocabulary=vocabulary.name,
            chunks_fingerprint=fingerprint,
            chunks=len(records),
            valid_chunks=sum(r.status is ExtractionStatus.VALID for r in records),
            recorded_at=dt.datetime.now(dt.UTC),
            version=0,
        ),
        records,
    )
    context.log.info(f"stored baseline {endpoint.name} v{meta.version:04d}")
    return model_baseline(meta, records)
