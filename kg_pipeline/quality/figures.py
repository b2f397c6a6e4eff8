"""The report's rates over its documents, each an ``Estimate``: the value, the count it was taken
over and a bootstrap interval over documents.

Two views of the same answers are kept apart. The *model's* figures judge the answer as the model
gave it; the *output's* judge what the pipeline stored after grounding, which replaced every quote
with the span it copies and dropped what it could not find (and relationships to dropped
concepts). Output quote precision is then 1.0 and "quotes not in the chunk" 0 by construction:
true of what the user gets, silent about the model. Both are reported side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from kg_pipeline.quality.calibration import calibration_estimate
from kg_pipeline.quality.estimates import Estimate, ratio_estimate
from kg_pipeline.quality.hallucination import HallucinationCounts
from kg_pipeline.quality.quotes import QuoteScore
from kg_pipeline.quality.relationships import RelationshipScore

NOT_RECORDED = "the model's answer was not recorded (records written before it was kept)"


class ScoredDocument(Protocol):
    """What the figures read of a document's score (``report.DocumentScore``)."""

    @property
    def relationships(self) -> RelationshipScore: ...
    @property
    def quotes(self) -> QuoteScore: ...
    @property
    def hallucinations(self) -> HallucinationCounts: ...
    @property
    def model_quotes(self) -> QuoteScore | None: ...
    @property
    def model_hallucinations(self) -> HallucinationCounts | None: ...


def type_accuracy(documents: Sequence[ScoredDocument]) -> Estimate:
    """Of the endpoint-matched relationships, the share carrying the reference's type."""
    return ratio_estimate(
        [(d.relationships.type_matches, d.relationships.endpoint_matches) for d in documents]
    )


def _quote_figures(quotes: Sequence[QuoteScore], prefix: str) -> dict[str, Estimate]:
    return {
        f"{prefix}quote_precision": ratio_estimate([(q.verbatim, q.quotes) for q in quotes]),
        f"{prefix}quote_normalised_precision": ratio_estimate(
            [(q.normalised, q.quotes) for q in quotes]
        ),
        f"{prefix}quote_error_rate": ratio_estimate(
            [(q.quotes - q.normalised, q.quotes) for q in quotes]
        ),
    }


# name: (the count that was wrong, what it is a share of)
_HALLUCINATIONS: dict[str, Callable[[HallucinationCounts], tuple[int, int]]] = {
    "off_vocabulary_rate": lambda h: (h.off_vocabulary_types, h.relationships),
    "dangling_relationship_rate": lambda h: (h.dangling_relationships, h.relationships),
    "quotes_not_in_chunk_rate": lambda h: (h.quotes_not_in_chunk, h.instances),
    "unsupported_concept_rate": lambda h: (h.unsupported_concepts, h.concepts),
}
HALLUCINATION_FIGURES = tuple(_HALLUCINATIONS)
QUOTE_FIGURES = ("quote_precision", "quote_normalised_precision", "quote_error_rate")


def _hallucination_figures(
    counts: Sequence[HallucinationCounts], prefix: str
) -> dict[str, Estimate]:
    return {
        f"{prefix}{name}": ratio_estimate([part_of(c) for c in counts])
        for name, part_of in _HALLUCINATIONS.items()
    }


def _not_recorded(names: Sequence[str]) -> dict[str, Estimate]:
    return {f"model_{name}": Estimate(value=None, n=0, reason=NOT_RECORDED) for name in names}


def report_figures(
    documents: Sequence[ScoredDocument], asks_confidence: bool
) -> dict[str, Estimate]:
    """Every rate of the report by name, for its markdown, its JSON and the asset's metadata.
    ``model_*`` judge the model's own answers, the rest the pipeline's output."""
    model_quotes = [d.model_quotes for d in documents]
    model_hallucinations = [d.model_hallucinations for d in documents]
    figures = {
        "relationship_type_accuracy": type_accuracy(documents),
        "calibration_error": calibration_estimate(
            [d.relationships.outcomes for d in documents], asks_confidence
        ),
        **_quote_figures([d.quotes for d in documents], ""),
        **_hallucination_figures([d.hallucinations for d in documents], ""),
    }
    quotes_known = [q for q in model_quotes if q is not None]
    hallucinations_known = [h for h in model_hallucinations if h is not None]
    if len(quotes_known) == len(documents) and len(hallucinations_known) == len(documents):
        figures |= _quote_figures(quotes_known, "model_")
        figures |= _hallucination_figures(hallucinations_known, "model_")
    else:
        figures |= _not_recorded(QUOTE_FIGURES + HALLUCINATION_FIGURES)
    return figures
