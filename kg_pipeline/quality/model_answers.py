"""A document's quotes and hallucinations, judged twice: on the pipeline's output and on the
model's own answers.

Grounding (kg_pipeline/extraction/grounding.py) replaces each quote with the span of the chunk it
copies, drops a quote it cannot find, and drops relationships whose ends it dropped. Judged after
it, every quote is verbatim and no relationship dangles, by construction, so the figures that
tell whether the model copies and refers faithfully are taken on the answer the record keeps from
before grounding (``ChunkExtraction.model_answer``). A chunk that was not grounded has one answer,
the model's own, judged once for both. A grounded chunk whose record predates ``model_answer`` has
no model's answer: the document's model figures are then None (reported "n/a"), not a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kg_pipeline.contract.schema import Extraction
from kg_pipeline.contract.vocabulary import Vocabulary
from kg_pipeline.extraction.records import ChunkExtraction
from kg_pipeline.quality.hallucination import HallucinationCounts, count_hallucinations
from kg_pipeline.quality.quotes import (
    EMPTY_QUOTE_SCORE,
    GroundingEffect,
    QuoteScore,
    score_quotes,
)


@dataclass(frozen=True)
class ChunkJudgement:
    """Summed over a document's answered chunks."""

    quotes: QuoteScore  # of the output
    hallucinations: HallucinationCounts  # of the output
    model_quotes: QuoteScore | None  # of the model's own answers; None: one was not kept
    model_hallucinations: HallucinationCounts | None
    grounding: GroundingEffect


def models_own_answer(record: ChunkExtraction) -> Extraction | None:
    """The answer as the model gave it: the extraction itself when it was not grounded; None for
    a grounded record written before the model's answer was kept."""
    return record.extraction if record.grounding is None else record.model_answer


def judge_chunks(
    records: Sequence[ChunkExtraction], chunk_text: Mapping[str, str], vocabulary: Vocabulary
) -> ChunkJudgement:
    """Each chunk is judged against the text its model saw, not against the merged document."""
    quotes, hallucinations, effect = EMPTY_QUOTE_SCORE, HallucinationCounts(), GroundingEffect()
    model_quotes: QuoteScore | None = EMPTY_QUOTE_SCORE
    model_hallucinations: HallucinationCounts | None = HallucinationCounts()
    for record in records:
        if record.extraction is None:
            continue
        text = chunk_text.get(record.chunk_id, "")
        quotes = quotes + score_quotes([i.quote for i in record.extraction.instances], text)
        hallucinations = hallucinations + count_hallucinations(record.extraction, text, vocabulary)
        if record.grounding is not None:
            effect = effect + GroundingEffect.of(record.grounding)
        own = models_own_answer(record)
        if own is None or model_quotes is None or model_hallucinations is None:
            model_quotes = model_hallucinations = None
            continue
        model_quotes = model_quotes + score_quotes([i.quote for i in own.instances], text)
        model_hallucinations = model_hallucinations + count_hallucinations(own, text, vocabulary)
    return ChunkJudgement(quotes, hallucinations, model_quotes, model_hallucinations, effect)
