"""`ingest_images_job`: slides, diagrams and photos in, one knowledge graph per image out.

A vision model describes each image in text (its visible text transcribed, its diagrams put into
words); the text model then extracts concepts from that description exactly as from a document,
so one extraction path, prompt and schema serve both. The graph records the image as the
source — its path, hash, the description the concepts were quoted from, and both models — so a
quote can always be traced back to the image it came from.

An op job like `ingest_job`: its inputs are files an operator names. A bad image (not an image,
truncated, far too large) or a failed description is recorded under ``skipped`` with the reason,
and the other images go on.
"""

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import BaseModel, Field

from kg_pipeline.contract.messages import PROMPT_VERSION
from kg_pipeline.contract.reference import Reference
from kg_pipeline.contract.vocabulary import Vocabulary, resolve_vocabulary
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.images import MAX_PIXELS, MAX_SIDE, BadImage, PreparedImage, prepare_image
from kg_pipeline.defs.extraction_run import registered_model, run_extraction
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.defs.results_files import write_atomically
from kg_pipeline.extraction.merging import merge_extractions
from kg_pipeline.extraction.outcome import incomplete_run_message
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.middleware.vision import describe_image
from kg_pipeline.providers.base import EndpointSettings, ProviderError, ProviderUnavailable
from kg_pipeline.providers.vision import Description
from kg_pipeline.store.config import ConfigError, ConfigStore, ModelConfig

# The per-image progress lines also go to this logger, so `kg ingest image` can print them as
# they happen (Dagster's own log goes to the run's event log and the UI).
progress_log = logging.getLogger(__name__)

DESCRIPTION_PROMPT_VERSION = "describe-v1"
DESCRIPTION_PROMPT = (
    "Describe this image so that someone who cannot see it could learn everything it shows. "
    "First transcribe all visible text exactly as written: titles, headings, bullet points, "
    "labels, captions, table cells, axis names. Then describe every diagram, chart or picture: "
    "what its parts are and how they relate (arrows, grouping, order, hierarchy, trends). "
    "Write plain sentences without a preamble, and do not guess at what is not shown."
)
_REGISTER_VISION = (
    "`kg admin extraction set --provider ollama --model llava:13b --supports-vision "
    "--no-activate` (or add --supports-vision to an existing model with --name NAME)"
)


class ImageIngestConfig(dg.Config):
    files: list[str] = Field(description="Image files: PNG, JPEG, GIF or WebP.")
    output: str = Field(description="Where to write the knowledge graph (JSON).")
    vision_model: str | None = Field(
        default=None,
        description="A registered model marked supports_vision; default: the first such model.",
    )
    text_model: str | None = Field(
        default=None, description="A registered model to extract with; default: the active one."
    )
    fallback_vision_model: str | None = Field(
        default=None,
        description="A registered (cloud) model to describe with when the vision model fails; "
        "default: the vision model's fallback_endpoint.",
    )
    vocabulary: str | None = Field(default=None, description="base31 (default), kg60, kg90, file.")
    prompt: str = Field(default=DESCRIPTION_PROMPT, description="What the vision model is asked.")
    max_side: int = Field(default=MAX_SIDE, ge=64, description="Larger images are scaled down.")
    max_pixels: int = Field(default=MAX_PIXELS, gt=0, description="Larger images are refused.")
    use_cache: bool = Field(default=True, description="Answer unchanged chunks from the cache.")


class IngestedImage(BaseModel):
    source_type: Literal["IMAGE"] = "IMAGE"
    path: str
    sha256: str
    width: int
    height: int
    notes: list[str] = Field(default_factory=list, description="e.g. how it was downscaled.")
    description: str = Field(description="The text the concepts were extracted (and quoted) from.")
    vision_model: str
    vision_endpoint: str
    vision_fallback_from: str | None = None
    text_model: str
    describe_seconds: float
    extract_seconds: float
    chunks: int
    failed_chunks: list[str] = Field(default_factory=list)
    graph: Reference


class ImageOntology(BaseModel):
    """What `kg ingest image` writes: one graph per image, the images that could not be used
    and why, and where the per-chunk extraction records are."""

    prompt_version: str = PROMPT_VERSION
    description_prompt_version: str
    vocabulary: str
    images: list[IngestedImage]
    skipped: list[dict[str, str]] = Field(default_factory=list)
    records_file: str


def resolve_vision_model(store: ConfigStore, name: str | None) -> ModelConfig:
    """The named model, or the first registered one marked as reading images; raises
    ``ConfigError`` naming the command that marks one."""
    if name is not None:
        config = store.get(name)
        if not config.supports_vision:
            raise ConfigError(
                f"model {name!r} ({config.model_name}) is not marked as reading images; if it "
                f"does, run `kg admin extraction set --name {name} --supports-vision`"
            )
        return config
    for config in store.list():
        if config.supports_vision:
            return config
    raise ConfigError(f"no registered model reads images; register one with {_REGISTER_VISION}")


def progress_line(path: str, description: Description, seconds: float, concepts: int) -> str:
    line = f"{path}: described with {description.model} in {seconds:.1f} s"
    if description.fallback_from:
        line += f" (fallback after {description.fallback_from} failed)"
    return f"{line}, extracted {concepts} concept{'' if concepts == 1 else 's'}"


def _report(context: dg.OpExecutionContext, message: str, warning: bool = False) -> None:
    if warning:
        context.log.warning(message)
        progress_log.warning(message)
    else:
        context.log.info(message)
        progress_log.info(message)


def _vision_endpoints(
    context: dg.OpExecutionContext, store: ConfigStore, config: ImageIngestConfig
) -> tuple[EndpointSettings, EndpointSettings | None]:
    try:
        vision = resolve_vision_model(store, config.vision_model)
        fallback_name = config.fallback_vision_model or vision.options.fallback_endpoint
        fallback = store.get(fallback_name) if fallback_name else None
        if config.text_model:
            store.get(config.text_model)
        else:
            store.active()
    except ConfigError as exc:
        raise dg.Failure(str(exc)) from exc
    if fallback is not None and not fallback.supports_vision:
        context.log.warning(
            f"fallback {fallback.name} is not marked --supports-vision; it may not read images"
        )
    return vision.settings(), fallback.settings() if fallback else None


def _extract_description(
    context: dg.OpExecutionContext,
    registry: ModelRegistry,
    config: ImageIngestConfig,
    vocabulary: Vocabulary,
    key: str,
    text: str,
) -> tuple[list[ChunkExtraction], float]:
    started = time.perf_counter()
    chunks = chunk_document(key, text)
    model = registered_model(registry, config.text_model)
    records = run_extraction(
        context,
        registry,
        model,
        chunks,
        vocabulary,
        config.use_cache,
        follow_active=config.text_model is None,
    )
    return records, time.perf_counter() - started


def _ingest_one(
    context: dg.OpExecutionContext,
    registry: ModelRegistry,
    config: ImageIngestConfig,
    vocabulary: Vocabulary,
    position: int,
    name: str,
    endpoints: tuple[EndpointSettings, EndpointSettings | None],
) -> tuple[IngestedImage, list[ChunkExtraction]]:
    """One image through validate -> describe -> extract; raises BadImage or ProviderError."""
    image: PreparedImage = prepare_image(Path(name), config.max_side, config.max_pixels)
    for note in image.notes:
        _report(context, f"{name}: {note}")
    started = time.perf_counter()
    vision, fallback = endpoints
    description = asyncio.run(
        describe_image(vision, image.data, image.mime, config.prompt, fallback)
    )
    describe_seconds = time.perf_counter() - started
    # The position keeps two images with the same stem (a/slide.png, b/slide.png) apart.
    key = f"{position}:{Path(name).stem}"
    records, extract_seconds = _extract_description(
        context, registry, config, vocabulary, key, description.text
    )
    graph = merge_extractions([r.extraction for r in records if r.extraction is not None])
    _report(context, progress_line(name, description, describe_seconds, len(graph.concepts)))
    failed = [r for r in records if r.status is not ExtractionStatus.VALID]
    if failed:
        _report(context, f"{name}: {len(failed)} of {len(records)} chunks failed", warning=True)
    ingested = IngestedImage(
        path=name,
        sha256=image.sha256,
        width=image.width,
        height=image.height,
        notes=image.notes,
        description=description.text,
        vision_model=description.model,
        vision_endpoint=description.endpoint,
        vision_fallback_from=description.fallback_from,
        text_model=", ".join(dict.fromkeys(r.model for r in records)),
        describe_seconds=round(describe_seconds, 3),
        extract_seconds=round(extract_seconds, 3),
        chunks=len(records),
        failed_chunks=[r.chunk_id for r in failed],
        graph=graph,
    )
    return ingested, records


@dg.op(tags={"kind": "llm"})
def ingest_images(
    context: dg.OpExecutionContext, config: ImageIngestConfig, model_registry: ModelRegistry
) -> dg.Output[str]:
    """Describe each image with the vision model, extract concepts from the description with
    the text model, and write one graph per image with the image as its source."""
    endpoints = _vision_endpoints(context, model_registry.store(), config)
    vocabulary = resolve_vocabulary(config.vocabulary)
    images: list[IngestedImage] = []
    skipped: list[dict[str, str]] = []
    records: list[ChunkExtraction] = []
    unreachable: set[str] = set()  # images whose model could not be reached, not bad ones
    for position, name in enumerate(config.files):
        try:
            ingested, image_records = _ingest_one(
                context, model_registry, config, vocabulary, position, name, endpoints
            )
        except (BadImage, ProviderError) as exc:
            stage = "bad image" if isinstance(exc, BadImage) else "description failed"
            if isinstance(exc, ProviderUnavailable):
                unreachable.add(name)
            skipped.append({"path": name, "reason": f"{stage}: {exc}"})
            _report(context, f"{name}: skipped, {stage}: {exc}", warning=True)
            continue
        images.append(ingested)
        records.extend(image_records)
    if not images:
        raise dg.Failure("none of the given images could be described; see the warnings above")

    output = Path(config.output)
    records_file = output.with_name(output.name + ".records.jsonl")
    write_atomically(records_file, "".join(r.model_dump_json() + "\n" for r in records))
    ontology = ImageOntology(
        description_prompt_version=(
            DESCRIPTION_PROMPT_VERSION if config.prompt == DESCRIPTION_PROMPT else "custom"
        ),
        vocabulary=vocabulary.name,
        images=images,
        skipped=skipped,
        records_file=str(records_file),
    )
    write_atomically(output, ontology.model_dump_json(indent=2))
    metadata: dict[str, Any] = {
        "output": dg.MetadataValue.path(str(output)),
        "records_file": dg.MetadataValue.path(str(records_file)),
        "images": len(images),
        "skipped_images": len(skipped),
        "concepts": sum(len(i.graph.concepts) for i in images),
        "vision_fallbacks": sum(bool(i.vision_fallback_from) for i in images),
        "describe_seconds": dg.MetadataValue.float(sum(i.describe_seconds for i in images)),
        "extract_seconds": dg.MetadataValue.float(sum(i.extract_seconds for i in images)),
    }
    # Written first, then failed: a graph with holes the model server left is not a success.
    outages = [s["reason"] for s in skipped if s["path"] in unreachable]
    incomplete = incomplete_run_message(records)
    if outages or incomplete:
        said = [incomplete] if incomplete else []
        if outages:
            said.insert(
                0, f"{len(outages)} of {len(config.files)} images not described: {outages[0]}"
            )
        raise dg.Failure(f"{'; '.join(said)} (the graph is written to {output})", metadata=metadata)
    return dg.Output(str(output), metadata=metadata)


@dg.job(
    description="Describe the given images with a vision model and extract a knowledge graph "
    "from each description with the text model."
)
def ingest_images_job() -> None:
    ingest_images()
