"""Extraction records -> fine-tuning examples: the prompt a model was sent for a chunk and the
extraction it returned, for the chunks whose quality score meets a threshold.

Records keep the chunk id, not the chunk text, so the text is found again by chunking the source
documents the same way: a chunk id ends in a hash of the chunk's text, so a re-chunked chunk is
matched only when its text is exactly what the model saw. The prompt is then rebuilt with
``build_messages`` for the record's vocabulary; records of an older prompt version are left out,
since the rebuilt prompt would not be the one the model answered. Nothing is skipped silently:
every record is counted as kept, below the threshold, failed, of another prompt version, without
text, or without a reference.

Quality scores (0 to 1, compared exactly, as fractions):

- ``grounded`` (default; needs nothing but the chunk): the mean of (a) the share of instances whose
  quote occurs verbatim, character for character, in the chunk text; (b) the share of
  relationships whose two endpoints are concepts defined in the same extraction; (c) the share of
  concepts with at least one instance. A share whose denominator is zero (no instances, or no
  relationships) is left out of the mean. A failed record, or one without concepts, scores 0.
- ``reference`` (documents with a curated ``*.reference.json``): the concept F1 at the fuzzy level
  (as in the quality report) of the document's merged valid extractions against its reference;
  every chunk of a document gets the document's score, and chunks of documents without a reference
  are counted and left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

from kg_pipeline.contract.messages import PROMPT_VERSION, PromptMessages
from kg_pipeline.contract.reference import Reference
from kg_pipeline.contract.schema import Extraction
from kg_pipeline.contract.vocabulary import Vocabulary, VocabularyError, resolve_vocabulary
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import DocumentError, load_corpus, read_document
from kg_pipeline.errors import KgError
from kg_pipeline.extraction.merging import merge_document
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.extraction.records import (
    ChunkExtraction,
    ExtractionStatus,
    RecordsFileError,
    read_records,
)
from kg_pipeline.quality.concepts import FuzzySimilarity, MatchLevel, score_concepts


class TrainingFormat(StrEnum):
    JSONL = "jsonl"  # {"prompt", "completion"} strings
    MESSAGES = "messages"  # {"messages": [...]}: chat trainers apply the model's own template
    CHATML = "chatml"  # {"text"}: the conversation in ChatML markup (Qwen and others)


class QualityScore(StrEnum):
    GROUNDED = "grounded"
    REFERENCE = "reference"


class TrainingExportError(KgError, ValueError):
    """The records or their sources cannot be read; the message says what to do."""


def grounded_score(record: ChunkExtraction, chunk_text: str) -> Fraction:
    extraction = record.extraction
    if record.status is not ExtractionStatus.VALID or extraction is None:
        return Fraction(0)
    if not extraction.concepts:
        return Fraction(0)
    defined = {c.concept_id for c in extraction.concepts}
    supported = {i.concept_id for i in extraction.instances}
    concepts = extraction.concepts
    shares = [Fraction(sum(c.concept_id in supported for c in concepts), len(concepts))]
    if extraction.instances:
        verbatim = sum(i.quote in chunk_text for i in extraction.instances)
        shares.append(Fraction(verbatim, len(extraction.instances)))
    if extraction.relationships:
        closed = sum(
            r.from_concept_id in defined and r.to_concept_id in defined
            for r in extraction.relationships
        )
        shares.append(Fraction(closed, len(extraction.relationships)))
    return sum(shares, Fraction(0)) / len(shares)


def reference_scores(
    records: Sequence[ChunkExtraction], references: Mapping[str, Reference]
) -> dict[str, Fraction]:
    """Concept F1 (fuzzy level) per document that has a reference, keyed by document id."""
    valid: dict[str, list[Extraction]] = {}
    for record in records:
        if record.document_id in references:
            extractions = valid.setdefault(record.document_id, [])
            if record.status is ExtractionStatus.VALID and record.extraction is not None:
                extractions.append(record.extraction)
    merged = {doc: merge_document(exts, with_quotes=False).concepts for doc, exts in valid.items()}
    # One vectorizer for the whole export, as the quality report fits one per evaluation.
    fuzzy = FuzzySimilarity(
        [c for concepts in merged.values() for c in concepts]
        + [c for doc in merged for c in references[doc].concepts]
    )
    scores = {}
    for doc, concepts in merged.items():
        prf = score_concepts(concepts, references[doc].concepts, MatchLevel.FUZZY, fuzzy=fuzzy)
        total = prf.predicted + prf.reference
        scores[doc] = Fraction(2 * prf.true_positives, total) if total else Fraction(0)
    return scores


def load_records(path: Path) -> list[ChunkExtraction]:
    try:
        return read_records(path)
    except RecordsFileError as exc:
        raise TrainingExportError(
            f"{exc}; pass a records file written by the pipeline or by `kg ingest`"
        ) from exc


@dataclass
class ChunkSource:
    """Chunk texts by chunk id, the documents' references, and what could not be read."""

    texts: dict[str, str] = field(default_factory=dict)
    references: dict[str, Reference] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def corpus_chunks(corpus_dir: Path) -> ChunkSource:
    """Chunks of a corpus as the pipeline's ``chunks`` asset cuts them (default settings)."""
    documents, bad = load_corpus(corpus_dir)
    source = ChunkSource(problems=[str(b) for b in bad])
    for doc in documents:
        source.texts.update((c.chunk_id, c.text) for c in chunk_document(doc.document_id, doc.text))
        if doc.reference is not None:
            source.references[doc.document_id] = doc.reference
    return source


def ingested_chunks(documents: Sequence[tuple[Path, str]]) -> ChunkSource:
    """Chunks of the files a `kg ingest` graph lists, as (path, sha256 at ingest), in the graph's
    order: the ingest keys each file's chunks by its position among the files it read."""
    source = ChunkSource()
    for position, (path, sha256) in enumerate(documents):
        try:
            doc = read_document(path, path.parent)
        except (DocumentError, OSError) as exc:
            source.problems.append(f"{path}: {exc}")
            continue
        if doc.sha256 != sha256:
            source.problems.append(
                f"{path}: changed since the ingest; only its unchanged chunks are matched"
            )
        document_id = f"{position}:{doc.document_id}"
        source.texts.update((c.chunk_id, c.text) for c in chunk_document(document_id, doc.text))
        if doc.reference is not None:
            source.references[document_id] = doc.reference
    return source


def record_vocabularies(
    records: Iterable[ChunkExtraction], given: Vocabulary | None = None
) -> dict[str, Vocabulary]:
    """The vocabulary each record was extracted with, by name: the prompt lists its types."""
    vocabularies: dict[str, Vocabulary] = {}
    for name in sorted({r.vocabulary for r in records}):
        if given is not None and given.name == name:
            vocabularies[name] = given
            continue
        try:
            vocabularies[name] = resolve_vocabulary(name)
        except (VocabularyError, OSError) as exc:
            raise TrainingExportError(
                f"records were extracted with the vocabulary {name!r}, which is not packaged "
                f"({exc}); pass --vocabulary with the JSON file the run used"
            ) from exc
    return vocabularies


def completion_text(extraction: Extraction) -> str:
    """The answer as the prompt's own example answer is written: compact JSON, unescaped."""
    return json.dumps(extraction.model_dump(mode="json"), ensure_ascii=False)


def prompt_text(messages: PromptMessages) -> str:
    """The conversation as one string for prompt/completion trainers; it ends where the answer
    begins."""
    turns = "".join(f"{m['role'].capitalize()}:\n{m['content']}\n\n" for m in messages.chat())
    return turns + "Assistant:\n"


def training_example(
    messages: PromptMessages, completion: str, fmt: TrainingFormat
) -> dict[str, Any]:
    if fmt is TrainingFormat.JSONL:
        return {"prompt": prompt_text(messages), "completion": completion}
    chat = [*messages.chat(), {"role": "assistant", "content": completion}]
    if fmt is TrainingFormat.MESSAGES:
        return {"messages": chat}
    return {"text": "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat)}


@dataclass
class ExportSummary:
    records: int = 0
    kept: int = 0
    below_threshold: int = 0
    failed: int = 0  # no extraction to learn from
    other_prompt_version: int = 0
    missing_text: list[str] = field(default_factory=list)  # chunk ids
    no_reference: int = 0
    kept_scores: list[Fraction] = field(default_factory=list)

    @property
    def mean_kept_score(self) -> float | None:
        return float(sum(self.kept_scores) / len(self.kept_scores)) if self.kept_scores else None


def build_training_examples(
    records: Sequence[ChunkExtraction],
    source: ChunkSource,
    vocabularies: Mapping[str, Vocabulary],
    min_quality: float,
    fmt: TrainingFormat = TrainingFormat.JSONL,
    score: QualityScore = QualityScore.GROUNDED,
) -> tuple[list[dict[str, Any]], ExportSummary]:
    """The examples of the records that meet ``min_quality``, in record order, and the count of
    every record left out, by reason."""
    threshold = Fraction(str(min_quality))  # 0.9 means nine tenths, not the nearest double
    by_document = (
        reference_scores(records, source.references) if score is QualityScore.REFERENCE else {}
    )
    summary = ExportSummary(records=len(records))
    examples = []
    for record in records:
        if record.status is not ExtractionStatus.VALID or record.extraction is None:
            summary.failed += 1
            continue
        if record.prompt_version != PROMPT_VERSION:
            summary.other_prompt_version += 1
            continue
        text = source.texts.get(record.chunk_id)
        if text is None:
            summary.missing_text.append(record.chunk_id)
            continue
        if score is QualityScore.REFERENCE:
            if record.document_id not in by_document:
                summary.no_reference += 1
                continue
            value = by_document[record.document_id]
        else:
            value = grounded_score(record, text)
        if value < threshold:
            summary.below_threshold += 1
            continue
        messages = build_messages(text, vocabularies[record.vocabulary])
        examples.append(training_example(messages, completion_text(record.extraction), fmt))
        summary.kept += 1
        summary.kept_scores.append(value)
    return examples, summary


def write_examples(path: Path, examples: Iterable[Mapping[str, Any]]) -> None:
    """One JSON object a line, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        for example in examples:
            out.write(json.dumps(example, ensure_ascii=False) + "\n")
    partial.replace(path)
