"""What a quality report's figures stand on: JSON validity over the chunks the model answered,
and coverage, how many of the run's chunks were answered at all.

A chunk whose server could not be reached or timed out (status ``unavailable``) never reached the
model, so it says nothing about the model's JSON: counted as invalid, one outage in two chunks
read as a schema-valid rate of 0.500. Such chunks are counted apart, and the report states its
coverage beside every figure they still lower (recall: the user did not get those concepts).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus


def share(part: int, whole: int) -> str:
    """A rate with what it is made of, "0.950 (19/20)"; "n/a (0/0)" when there is no whole."""
    return f"{part / whole:.3f} ({part}/{whole})" if whole else f"n/a ({part}/0)"


class ValidityCounts(BaseModel):
    """JSON validity, each outcome counted on its own (a repaired answer is also schema-valid),
    over the chunks the model answered; ``unavailable`` chunks are counted apart."""

    chunks: int = 0  # every record, answered or not
    unavailable: int = 0  # never answered: the server was unreachable or timed out
    parsed: int = 0  # the answer held a JSON object that parsed
    schema_valid: int = 0
    repaired: int = 0  # valid only after removing fences, prose or trailing commas, or raw controls
    truncated: int = 0  # stopped at the output budget
    failed: int = 0  # answered, but no usable extraction (malformed or truncated)

    def add(self, record: ChunkExtraction) -> None:
        self.chunks += 1
        if record.status is ExtractionStatus.UNAVAILABLE:
            self.unavailable += 1
            return
        stats = record.stats
        valid = record.status is ExtractionStatus.VALID
        self.schema_valid += valid
        self.parsed += valid or (stats is not None and stats.parse_failure == "schema")
        self.repaired += valid and stats is not None and bool(stats.repairs)
        self.truncated += record.status is ExtractionStatus.TRUNCATED
        self.failed += not valid

    @property
    def answered(self) -> int:
        return self.chunks - self.unavailable

    @property
    def schema_valid_rate(self) -> float | None:
        """Schema-valid answers over answered chunks; None when the model answered none."""
        return self.schema_valid / self.answered if self.answered else None

    @property
    def schema_valid_share(self) -> str:
        return share(self.schema_valid, self.answered)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "no error recorded"


class Coverage(BaseModel):
    """How many of the run's chunks the model answered, and why the others were not."""

    chunks: int  # chunks the run asked about: one record each
    unavailable: int
    causes: list[str]  # distinct root causes of the unavailable chunks, in order of first record

    @classmethod
    def of(cls, records: Sequence[ChunkExtraction]) -> Coverage:
        causes: dict[str, None] = {}
        missing = [r for r in records if r.status is ExtractionStatus.UNAVAILABLE]
        for record in missing:
            causes.setdefault(_first_line(record.error or ""), None)
        return cls(chunks=len(records), unavailable=len(missing), causes=list(causes))

    @property
    def answered(self) -> int:
        return self.chunks - self.unavailable

    @property
    def complete(self) -> bool:
        return self.unavailable == 0

    def describe(self) -> str:
        """In words: "covers 39 of 40 chunks (1 unavailable: <first root cause>)"."""
        text = f"covers {self.answered} of {self.chunks} chunks"
        if self.complete:
            return text
        others = len(self.causes) - 1
        more = f"; {others} other cause{'s' * (others > 1)}" if others else ""
        return f"{text} ({self.unavailable} unavailable: {self.causes[0]}{more})"
