"""What a run spent and produced per document, counted as ``benchmarks/redocred_quality.py``
counts it for each arm: model seconds, calls, output tokens, calls stopped at the output budget,
documents answered in full, and the duplicates the merge removed. The report's per-chunk means
cannot be set beside the side script's per-document figures; these can.

Speed figures come from each chunk's own call statistics, which an answer from the response
cache carries unchanged: a cached re-run reports the seconds of the calls that produced its
answers, and says how many chunks it took from the cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from kg_pipeline.extraction.merging import MergedDocument
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus

RUNAWAY_FINISH = "length"  # the server stopped the answer at the output budget


class RunCounts(BaseModel):
    documents: int = 0  # documents with at least one record
    valid_documents: int = 0  # every chunk of the document schema-valid
    chunks: int = 0
    cached_chunks: int = 0  # answered from the response cache: no model call this run
    calls: int = 0  # HTTP attempts and re-asks, as the answers' statistics record them
    runaway_calls: int = 0  # chunks whose answer stopped at the output budget
    seconds: float = 0.0  # the chunks' call wall times, summed (unanswered chunks left out)
    completion_tokens: list[int] = []  # per chunk answered, as the server counted them
    concepts_listed: int = 0  # by the chunks' answers, before the merge
    concepts_merged: int = 0  # after it

    @classmethod
    def of(cls, records: Sequence[ChunkExtraction], merged: Iterable[MergedDocument]) -> RunCounts:
        counts = cls()
        by_document: dict[str, bool] = {}
        for record in records:
            valid = record.status is ExtractionStatus.VALID
            by_document[record.document_id] = by_document.get(record.document_id, True) and valid
            counts.chunks += 1
            stats = record.stats
            if stats is None:
                continue
            counts.cached_chunks += stats.cached
            counts.calls += stats.attempts + stats.reasks
            counts.runaway_calls += stats.finish_reason == RUNAWAY_FINISH
            if record.status is not ExtractionStatus.UNAVAILABLE:
                counts.seconds += stats.wall_seconds
                counts.completion_tokens.append(stats.completion_tokens or 0)
        counts.documents = len(by_document)
        counts.valid_documents = sum(by_document.values())
        for document in merged:
            counts.concepts_listed += document.concepts_in
            counts.concepts_merged += len(document.concepts)
        return counts

    def _per_document(self, total: float) -> float | None:
        return total / self.documents if self.documents else None

    @property
    def seconds_per_document(self) -> float | None:
        return self._per_document(self.seconds)

    @property
    def calls_per_document(self) -> float | None:
        return self._per_document(self.calls)

    @property
    def completion_tokens_per_document(self) -> float | None:
        return self._per_document(sum(self.completion_tokens))

    @property
    def completion_tokens_max(self) -> int | None:
        """The longest answer of one chunk; None when no chunk was answered."""
        return max(self.completion_tokens, default=None)

    @property
    def duplicate_rate(self) -> float | None:
        """Share of the listed concepts the merge folded into another; None when none listed."""
        if not self.concepts_listed:
            return None
        return 1 - self.concepts_merged / self.concepts_listed
