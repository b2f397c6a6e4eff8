"""`extractions`: one set of chunk extraction records per model endpoint. The run itself (the
provider stack, the live switch, progress, cost) is kg_pipeline/defs/extraction_run.py."""

import asyncio

import dagster as dg
from pydantic import Field

from kg_pipeline.contract.messages import PROMPT_VERSIONS
from kg_pipeline.contract.vocabulary import resolve_vocabulary
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.defs.corpus_vocabulary import run_vocabulary
from kg_pipeline.defs.extraction_metadata import extraction_metadata, fail_if_incomplete
from kg_pipeline.defs.extraction_run import (
    MODEL_POOL,
    record_extraction_analytics,
    registered_model,
    routed_name,
    run_extraction,
)
from kg_pipeline.defs.model_observations import observe_status
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.defs.results_files import results_dir, write_atomically
from kg_pipeline.extraction.records import ChunkExtraction
from kg_pipeline.serving.model_status import endpoint_status
from kg_pipeline.store.config import ModelConfig


class ExtractionsConfig(dg.Config):
    max_chunks: int | None = Field(
        default=None, ge=1, description="Extract only the first N chunks (smoke runs)."
    )
    vocabulary: str | None = Field(
        default=None,
        description="base31, kg60, kg90, redocred, or the path of a JSON vocabulary file; "
        "default: the corpus's vocabulary.json when it has one, else base31.",
    )
    use_cache: bool = Field(
        default=True,
        description="Answer unchanged chunks from the response cache (false: always call).",
    )
    prompt_version: str | None = Field(
        default=None,
        description="This run's prompt version (kg-extract-v1 ... v6) instead of the model's "
        "own, e.g. to measure prompt versions on one registered model.",
    )
    routed: bool = Field(
        default=False,
        description="Send each chunk to the model the routing rules choose (`kg admin routing`); "
        "chunks no rule places go to this partition's model. Records keep each decision.",
    )


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
        vocabulary = resolve_vocabulary(run_vocabulary(context, config.vocabulary))
        if config.prompt_version and config.prompt_version not in PROMPT_VERSIONS:
            raise dg.Failure(
                f"unknown prompt version {config.prompt_version!r}; choose one of: "
                f"{', '.join(PROMPT_VERSIONS)}"
            )
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
            prompt_version=config.prompt_version,
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
