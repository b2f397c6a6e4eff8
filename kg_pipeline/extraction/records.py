"""The extraction record: what one chunk's extraction produced (its answer, or the error that
stopped it, with the call's statistics), as stored one JSON line each in the records files, and
the one reader of those files. Read by the quality report, the analytics and the training export;
written by extract.py."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from kg_pipeline.contract.messages import PROMPT_VERSION
from kg_pipeline.contract.schema import Extraction
from kg_pipeline.errors import KgError
from kg_pipeline.extraction.grounding import GroundingSummary
from kg_pipeline.extraction.named_answers import NamedAnswerSummary
from kg_pipeline.extraction.routing import RoutingDecision
from kg_pipeline.providers import CallStats


class ExtractionStatus(StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    UNAVAILABLE = "unavailable"


class ChunkExtraction(BaseModel):
    chunk_id: str
    document_id: str
    endpoint: str
    provider: str
    model: str
    prompt_version: str = PROMPT_VERSION
    vocabulary: str
    status: ExtractionStatus
    extraction: Extraction | None = None
    error: str | None = None
    stats: CallStats | None = None
    extracted_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # Set in routed runs: the chunk's analysis and why its model was chosen.
    routing: RoutingDecision | None = None
    # For answers naming concepts by label (prompt kg-extract-v4): how the names were resolved.
    named_answer: NamedAnswerSummary | None = None
    # Quote offsets into the chunk's text and what grounding changed (None: not grounded).
    grounding: GroundingSummary | None = None
    # The answer as the model gave it (named answers re-pointed to ids, gleaning passes merged),
    # before grounding rewrote its quotes and dropped what the text does not hold: grounded
    # quotes are verbatim by construction, so the model's own quote precision is judged on this.
    # None when not grounded (``extraction`` is then the model's own) and in records written
    # before it was kept (their model's figures read "n/a").
    model_answer: Extraction | None = None
    # One entry per gleaning pass: its call, or the error that ended gleaning early.
    gleaning: list[CallStats] = Field(default_factory=list)
    gleaning_error: str | None = None


class RecordsFileError(KgError, ValueError):
    """A line of a records file is not an extraction record; the message names file and line."""


def read_records(path: Path) -> list[ChunkExtraction]:
    """The records of a file written one JSON record a line (``results/extractions/*.jsonl``,
    `kg ingest`'s records file); blank lines are skipped."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(ChunkExtraction.model_validate_json(line))
        except ValidationError as exc:
            raise RecordsFileError(
                f"{path}:{number} is not an extraction record ({exc.error_count()} errors, "
                f"first: {exc.errors()[0]['msg']})"
            ) from exc
    return records
