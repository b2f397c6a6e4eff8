"""`ingest_job`: the production path — given files in, one knowledge graph (ontology) out,
extracted with whichever model is active, following a switch from the next chunk on.

An op job rather than assets: its inputs are whatever files an operator names, not a corpus the
asset graph tracks. It still runs through Dagster (`kg ingest` launches it on the instance), so
every ingest is a run with logs in the UI.
"""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel, Field

from kg_pipeline.contract.messages import PROMPT_VERSION
from kg_pipeline.contract.reference import Reference
from kg_pipeline.contract.vocabulary import resolve_vocabulary
from kg_pipeline.corpus.chunking import Chunk, chunk_document
from kg_pipeline.corpus.documents import DEFAULT_MAX_BYTES, DocumentError, read_document
from kg_pipeline.defs.extraction_metadata import fail_if_incomplete, fallback_metadata
from kg_pipeline.defs.extraction_run import (
    record_extraction_analytics,
    registered_model,
    run_extraction,
)
from kg_pipeline.defs.resources import ModelRegistry
from kg_pipeline.defs.results_files import write_atomically
from kg_pipeline.extraction.merging import merge_extractions
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus


class IngestConfig(dg.Config):
    files: list[str] = Field(description="Text files to extract (UTF-8).")
    output: str = Field(description="Where to write the knowledge graph (JSON).")
    model: str | None = Field(
        default=None,
        description="A registered model; default: the active one, followed if it is switched.",
    )
    vocabulary: str | None = Field(default=None, description="base31 (default), kg60, kg90, file.")
    max_document_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    use_cache: bool = Field(default=True, description="Answer unchanged chunks from the cache.")
    routed: bool = Field(
        default=False, description="Send each chunk to the model the routing rules choose."
    )


class IngestedDocument(BaseModel):
    path: str
    sha256: str
    chunks: int
    failed_chunks: list[str] = Field(default_factory=list)
    models: list[str] = Field(description="Models that extracted its chunks, in order of use.")
    graph: Reference


class Ontology(BaseModel):
    """What `kg ingest` writes: one graph per document, what could not be read, and where the
    per-chunk records (raw model output of failures included) are."""

    prompt_version: str = PROMPT_VERSION
    vocabulary: str
    documents: list[IngestedDocument]
    skipped: list[dict[str, str]] = Field(default_factory=list)
    records_file: str


def _read(
    paths: list[str], max_bytes: int
) -> tuple[list[tuple[str, str, str, str]], list[dict[str, str]]]:
    readable, skipped = [], []
    for name in paths:
        path = Path(name).resolve()
        try:
            if not path.is_file():
                raise DocumentError("no such file")
            doc = read_document(path, path.parent, max_bytes)
        except (DocumentError, OSError) as exc:
            skipped.append({"path": name, "reason": str(exc)})
            continue
        readable.append((name, doc.document_id, doc.sha256, doc.text))
    return readable, skipped


@dg.op(tags={"kind": "llm"})
def ingest_files(
    context: dg.OpExecutionContext, config: IngestConfig, model_registry: ModelRegistry
) -> dg.Output[str]:
    """Read, chunk and extract the files with the model (default: the active one); write the
    graph and the per-chunk records."""
    readable, skipped = _read(config.files, config.max_document_bytes)
    for problem in skipped:
        context.log.warning(f"skipped {problem['path']}: {problem['reason']}")
    if not readable:
        raise dg.Failure("none of the given files could be read; see the warnings above")
    vocabulary = resolve_vocabulary(config.vocabulary)
    chunks: list[Chunk] = []
    per_document: dict[str, list[Chunk]] = {}
    for _, document_id, _, text in readable:
        # Two files may share a stem; the position keeps their chunk ids apart.
        key = f"{len(per_document)}:{document_id}"
        per_document[key] = chunk_document(key, text)
        chunks.extend(per_document[key])
    which = config.model or "the active model"
    context.log.info(f"{len(readable)} files, {len(chunks)} chunks: extracting with {which}")
    model = registered_model(model_registry, config.model)
    records = run_extraction(
        context,
        model_registry,
        model,
        chunks,
        vocabulary,
        config.use_cache,
        config.routed,
        follow_active=config.model is None,
    )
    record_extraction_analytics(context, records, "ingest", model_registry)
    by_chunk = {r.chunk_id: r for r in records}

    output = Path(config.output)
    records_file = output.with_name(output.name + ".records.jsonl")
    write_atomically(records_file, "".join(r.model_dump_json() + "\n" for r in records))
    documents = []
    for (name, _, sha256, _), doc_chunks in zip(readable, per_document.values(), strict=True):
        mine: list[ChunkExtraction] = [by_chunk[c.chunk_id] for c in doc_chunks]
        valid = [r.extraction for r in mine if r.extraction is not None]
        documents.append(
            IngestedDocument(
                path=name,
                sha256=sha256,
                chunks=len(mine),
                failed_chunks=[r.chunk_id for r in mine if r.status is not ExtractionStatus.VALID],
                models=list(dict.fromkeys(r.model for r in mine)),
                graph=merge_extractions(valid),
            )
        )
    ontology = Ontology(
        vocabulary=vocabulary.name,
        documents=documents,
        skipped=skipped,
        records_file=str(records_file),
    )
    write_atomically(output, ontology.model_dump_json(indent=2))
    statuses = Counter(r.status.value for r in records)
    metadata: dict[str, Any] = {
        "output": dg.MetadataValue.path(str(output)),
        "records_file": dg.MetadataValue.path(str(records_file)),
        "files": len(readable),
        "skipped_files": len(skipped),
        "chunks": len(records),
        "statuses": dg.MetadataValue.json(dict(statuses)),
        "models": dg.MetadataValue.json(
            json.loads(json.dumps(dict(Counter(r.model for r in records))))
        ),
        **fallback_metadata(records),
    }
    # The graph holds what could be extracted; the run still says it is incomplete.
    fail_if_incomplete(context, records, metadata)
    return dg.Output(str(output), metadata=metadata)


@dg.job(description="Extract the given files with the active model into one knowledge graph.")
def ingest_job() -> None:
    ingest_files()
