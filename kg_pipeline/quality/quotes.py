"""Quote precision: are instances' quotes really in the text they claim to come from? And what
grounding did to them: it replaces a quote with the span it copies and drops one it cannot find,
so the grounded output's precision is 1.0 by construction and says nothing about the model."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields

from kg_pipeline.extraction.grounding import GroundingSummary

_QUOTE_MARKS = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", "`": "'"}
)
_SPACE = re.compile(r"\s+")


def normalise_quote_text(text: str) -> str:
    """Forgives what a copy through a tokenizer changes: spacing, quote marks, case, NFKC."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_MARKS).casefold()
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class QuoteScore:
    quotes: int
    verbatim: int
    normalised: int  # found after normalising both sides (includes the verbatim ones)

    @property
    def precision(self) -> float | None:
        return self.verbatim / self.quotes if self.quotes else None

    @property
    def normalised_precision(self) -> float | None:
        return self.normalised / self.quotes if self.quotes else None

    @property
    def error_rate(self) -> float | None:
        """Share of quotes not in the text even after normalisation."""
        return 1 - self.normalised / self.quotes if self.quotes else None

    def __add__(self, other: QuoteScore) -> QuoteScore:
        return QuoteScore(
            self.quotes + other.quotes,
            self.verbatim + other.verbatim,
            self.normalised + other.normalised,
        )


EMPTY_QUOTE_SCORE = QuoteScore(0, 0, 0)


def score_quotes(quotes: Sequence[str], text: str) -> QuoteScore:
    normalised_text = normalise_quote_text(text)
    verbatim = sum(q in text for q in quotes)
    normalised = sum(q in text or normalise_quote_text(q) in normalised_text for q in quotes)
    return QuoteScore(len(quotes), verbatim, normalised)


@dataclass(frozen=True)
class GroundingEffect:
    """What grounding changed, summed over chunks: every quote of the model's answers is kept as
    it was, replaced by the span it copies, dropped, or dropped as a repeat of one kept."""

    chunks: int = 0  # chunks whose answer was grounded
    quotes: int = 0  # the model's quotes, before grounding
    kept: int = 0  # already the exact span
    replaced: int = 0  # replaced by the exact span (folded or fuzzy match, or cut to length)
    dropped: int = 0  # in the chunk in no form grounding accepts
    duplicates: int = 0  # same concept and span as a quote kept before it
    labels_replaced: int = 0  # concept labels replaced by the text's spelling
    concepts_dropped: int = 0  # no grounded quote and the label not in the text

    @classmethod
    def of(cls, summary: GroundingSummary) -> GroundingEffect:
        return cls(
            chunks=1,
            quotes=summary.exact + summary.repaired + summary.dropped + summary.duplicates,
            kept=summary.exact,
            replaced=summary.repaired,
            dropped=summary.dropped,
            duplicates=summary.duplicates,
            labels_replaced=summary.labels_repaired,
            concepts_dropped=summary.concepts_dropped,
        )

    def __add__(self, other: GroundingEffect) -> GroundingEffect:
        return GroundingEffect(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )
