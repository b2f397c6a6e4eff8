"""What a run of extractions came to, in the terms a user acts on: which chunks could not be
extracted because the model could not be reached, and why; how often the fallback answered, and
what it added in seconds. Pure (no Dagster): the extractions asset and the ingest op report it.

A run with an unavailable chunk is incomplete, whatever else went well: its records are written,
and then the step fails with ``incomplete_run_message`` so that neither `kg run` / `kg ingest`
nor the Dagster UI shows it as a success. Malformed and truncated answers do not make a run
incomplete: the model answered, and how well is what the benchmark measures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus

# Distinct root causes spelled out in a failure message; the rest are counted.
MAX_CAUSES = 3


def unavailable(records: Sequence[ChunkExtraction]) -> list[ChunkExtraction]:
    return [r for r in records if r.status is ExtractionStatus.UNAVAILABLE]


def incomplete_run_message(records: Sequence[ChunkExtraction]) -> str | None:
    """The failure of an incomplete run: "N of M chunks unavailable: <root cause> (k chunks);
    …" and what to do next; None when every chunk reached its model."""
    missing = unavailable(records)
    if not missing:
        return None
    causes = Counter(r.error or "no error recorded" for r in missing)
    listed = [
        f"{cause} ({count} chunk{'s' if count > 1 else ''})"
        for cause, count in causes.most_common(MAX_CAUSES)
    ]
    if len(causes) > MAX_CAUSES:
        listed.append(f"and {len(causes) - MAX_CAUSES} other causes (see the records file)")
    return (
        f"{len(missing)} of {len(records)} chunks unavailable: {'; '.join(listed)}. Every "
        "record is written; run again to send only these chunks (the answers already made "
        "come from the response cache)"
    )


@dataclass(frozen=True)
class FallbackSummary:
    """One model asked first: of its live chunks (cached answers asked no model), how many the
    fallback answered, and the seconds the failed local attempts added before it did."""

    model: str
    asked: int
    fell_back: int
    added_seconds_mean: float
    added_seconds_max: float

    @property
    def rate(self) -> float:
        return self.fell_back / self.asked if self.asked else 0.0


def fallback_summaries(records: Sequence[ChunkExtraction]) -> list[FallbackSummary]:
    """Per model asked first, in order of first use (a run may switch models mid-way)."""
    asked: Counter[str] = Counter()
    added: dict[str, list[float]] = {}
    for record in records:
        stats = record.stats
        if stats is not None and stats.cached:
            continue
        asked[record.model] += 1
        seconds = added.setdefault(record.model, [])
        if stats is not None and stats.fallback_from is not None:
            seconds.append(stats.fallback_added_seconds)
    return [
        FallbackSummary(
            model=model,
            asked=count,
            fell_back=len(added[model]),
            added_seconds_mean=sum(added[model]) / len(added[model]) if added[model] else 0.0,
            added_seconds_max=max(added[model], default=0.0),
        )
        for model, count in asked.items()
    ]
