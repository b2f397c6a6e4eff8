"""Quote precision: are instances' quotes really in the text they claim to come from?"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

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
