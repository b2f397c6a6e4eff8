"""The reference every model is scored against: the curated references, or a recorded model.

A recording (GPT-4o, or any configured endpoint such as a 70B model on vLLM) costs money or GPU
hours and is the yardstick for later comparisons, so it is kept as an immutable, numbered version:
a new recording is a new version file, an existing one is never rewritten, and a re-run with the
same model, prompt and chunks reuses the latest matching version instead of paying again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from kg_pipeline.contract.reference import Provenance, Reference
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.merging import merge_extractions
from kg_pipeline.extraction.records import ChunkExtraction


class RecordingMeta(BaseModel):
    endpoint: str
    provider: str
    model: str
    prompt_version: str
    vocabulary: str
    chunks_fingerprint: str
    chunks: int
    valid_chunks: int
    recorded_at: dt.datetime
    version: int


class Baseline(BaseModel):
    kind: Literal["curated", "model"]
    description: str
    references: dict[str, Reference]  # document id -> reference
    recording: RecordingMeta | None = None


def chunks_fingerprint(chunks: Sequence[Chunk]) -> str:
    """Identifies the exact chunk set: chunk ids hash their text, so any edit changes it."""
    return hashlib.sha256("\n".join(sorted(c.chunk_id for c in chunks)).encode()).hexdigest()[:16]


def curated_baseline(documents: Sequence[Document]) -> Baseline:
    """The corpus's own references ("curated" as against a recorded model's answers)."""
    references = {d.document_id: d.reference for d in documents if d.reference is not None}
    return Baseline(
        kind="curated",
        description=references_origin(list(references.values())),
        references=references,
    )


def references_origin(references: Sequence[Reference]) -> str:
    """Where the corpus's references came from, as the report's "Measured against" line says
    it: written by hand to the project's guideline, or imported from a public data set (named
    as its provenance names it), or both; an imported gold set is not held to our guideline."""
    imported = Counter(
        r.provenance.annotator
        for r in references
        if r.provenance is not None and r.provenance.source == "imported"
    )
    curated = len(references) - imported.total()
    parts = [f"{n} references imported from {data_set}" for data_set, n in imported.items()]
    if curated or not imported:
        parts.insert(0, f"curated references ({curated} documents, test_corpus/GUIDELINE.md)")
    return "; ".join(parts)


def model_baseline(meta: RecordingMeta, records: Sequence[ChunkExtraction]) -> Baseline:
    by_document: dict[str, list[ChunkExtraction]] = defaultdict(list)
    for record in records:
        by_document[record.document_id].append(record)
    provenance = Provenance(
        source="model",
        annotator=f"{meta.model} ({meta.provider}, endpoint {meta.endpoint})",
        date=meta.recorded_at.date(),
        guideline_version=meta.prompt_version,
        notes=f"recording v{meta.version:04d}",
    )
    references = {}
    for document_id, doc_records in by_document.items():
        extractions = [r.extraction for r in doc_records if r.extraction is not None]
        merged = merge_extractions(extractions)
        references[document_id] = merged.model_copy(update={"provenance": provenance})
    return Baseline(
        kind="model",
        description=(
            f"{meta.model} recording v{meta.version:04d} of {meta.recorded_at:%Y-%m-%d} "
            f"(prompt {meta.prompt_version}, {meta.valid_chunks}/{meta.chunks} chunks valid)"
        ),
        references=references,
        recording=meta,
    )


class BaselineStore:
    """Numbered, write-once recordings under ``root/<endpoint>/vNNNN.jsonl`` (+ ``.meta.json``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, endpoint: str) -> Path:
        return self.root / endpoint

    def versions(self, endpoint: str) -> list[int]:
        folder = self._folder(endpoint)
        if not folder.is_dir():
            return []
        return sorted(int(p.name[1:5]) for p in folder.glob("v[0-9][0-9][0-9][0-9].meta.json"))

    def load(self, endpoint: str, version: int) -> tuple[RecordingMeta, list[ChunkExtraction]]:
        folder = self._folder(endpoint)
        meta = RecordingMeta.model_validate_json(
            (folder / f"v{version:04d}.meta.json").read_text(encoding="utf-8")
        )
        lines = (folder / f"v{version:04d}.jsonl").read_text(encoding="utf-8").splitlines()
        return meta, [ChunkExtraction.model_validate_json(line) for line in lines if line]

    def find(
        self, endpoint: str, model: str, prompt_version: str, vocabulary: str, fingerprint: str
    ) -> int | None:
        """The latest version recorded with this model, prompt, vocabulary and chunk set."""
        for version in reversed(self.versions(endpoint)):
            meta, _ = self.load(endpoint, version)
            if (meta.model, meta.prompt_version, meta.vocabulary, meta.chunks_fingerprint) == (
                model,
                prompt_version,
                vocabulary,
                fingerprint,
            ):
                return version
        return None

    def save(self, meta: RecordingMeta, records: Sequence[ChunkExtraction]) -> RecordingMeta:
        """Store as the next version; refuses to overwrite, even when two runs race."""
        folder = self._folder(meta.endpoint)
        folder.mkdir(parents=True, exist_ok=True)
        version = (self.versions(meta.endpoint) or [0])[-1] + 1
        meta = meta.model_copy(update={"version": version})
        data_path = folder / f"v{version:04d}.jsonl"
        meta_path = folder / f"v{version:04d}.meta.json"
        # O_EXCL: the file must not exist yet; the meta file is written last, so a version only
        # counts once it is complete.
        fd = os.open(data_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(r.model_dump_json() + "\n" for r in records)
        fd = os.open(meta_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(meta.model_dump(mode="json"), indent=1) + "\n")
        return meta
