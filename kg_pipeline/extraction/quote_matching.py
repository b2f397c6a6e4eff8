"""Quote matching: where in a chunk a quote that a model almost copied really is.

Small models copy quotes almost, not exactly: they change spacing, case, curly quote marks, drop a
short word, or keep a tokenizer artefact ("U.S ." for "U.S."). Scoring, provenance and highlighting
need the text that is really there, with its character offsets, so every quote is matched in three
steps, cheapest and surest first:

1. **Exact**: the quote is a substring of the text (score 1.0, ``exact=True``). The first
   occurrence that does not split a word wins; failing that, the first occurrence (the model
   copied those characters verbatim, even if they are "Tower" of "Towers").
2. **Normalised**: both sides are folded (NFKC, casefold, curly -> straight quote marks, dashes ->
   "-", whitespace runs collapsed, whitespace next to punctuation dropped) and searched again, so
   ``"the  Eiffel tower"`` finds ``"the Eiffel Tower"`` and ``"U.S ."`` finds ``"U.S."``. An index
   map from every folded character to its original characters turns the hit back into offsets of
   the ORIGINAL text (score 1.0, ``exact=False``). Only occurrences that split no word count:
   after folding, "ur" inside "Curie" is chance.
3. **Fuzzy**: rapidfuzz's ``partial_ratio_alignment`` finds the best window of the folded text;
   both ends then move to nearby word boundaries, keeping the span whose Indel similarity
   (``rapidfuzz.distance.Indel.normalized_similarity``, 2*matches / (len(a)+len(b))) with the
   folded quote is highest. Snapping to boundaries is why a span never holds half a word and why
   it never starts or ends in whitespace or punctuation that the quote does not have.

The fuzzy score is that similarity, and a span is kept when it reaches ``DEFAULT_THRESHOLD`` =
0.85. Worked examples (folded lengths; score = 1 - edits / (len(quote) + len(span))):

- ``"the  Eiffel tower"`` vs ``"the Eiffel Tower"``: equal after folding, step 2, 1.0: accepted.
- ``"The tower was completed 1889"`` vs ``"The tower was completed in 1889"``: one short word
  dropped, 3 edits over 28 + 31 characters = 0.95: accepted.
- ``"Eiffel Tower built 1889"`` vs ``"Eiffel Tower was built in 1889"``: two short words
  dropped, 1 - 7/53 = 0.87: still accepted; a third dropped word falls under 0.85.
- ``"Eiffel Tower 1889"`` vs ``"Eiffel Tower was built in 1889"``: half the clause gone,
  1 - 13/47 = 0.72: rejected.
- ``"The tower was finished in the year 1889"`` vs ``"The tower was completed in 1889"``: a
  paraphrase, 0.69: rejected.
- ``"the Louvre Museum"`` against a sentence about the Eiffel Tower: the best window scores
  0.47: rejected.

0.85 sits above what paraphrases and passages about something else reach (0.45-0.75 in these
examples and the tests) and below what one or two dropped or inserted short words cost
(0.87-0.95). Two more rules guard what a character score cannot see:

- **Anchors.** A fuzzy span must contain the quote's numbers and acronyms (exactly) and its
  capitalised words (Indel similarity >= 0.8, so "Eifel" still finds "Eiffel"): "Marie Curie won
  the Nobel Prize in 1903" scores 0.91 against "Pierre Curie won the Nobel Prize in 1903", but it is
  a quote about another person, so it is rejected. Sentence-initial function words ("The", "In")
  are not anchors.
- **Invented content.** A quote more than ``MAX_QUOTE_EXCESS`` (25%) longer than its span added
  text of its own and is rejected, whatever the threshold (the threshold is a parameter; this is
  not).

Quotes shorter than ``MIN_FUZZY_LENGTH`` folded characters match only in steps 1 and 2: a fuzzy
match of "US" or "it" is noise. Offsets are Python ``str`` indices (code points), so
``text[span.start:span.end]`` is the source text whatever letters precede it.

Folding is one pass over the text, so a chunk is folded once for all its quotes (``FoldedText``,
``ground_quote_in``): 30 quotes in a 200-word chunk ground in about 3 ms, a 1,500-word chunk in
about 8 ms. ``kg_pipeline.quality.quotes`` only measures quotes; this module finds them, for
grounding (grounding.py) to repair, so its folding also ignores spacing around punctuation and
keeps an index map.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

DEFAULT_THRESHOLD = 0.85
MIN_FUZZY_LENGTH = 3  # folded characters
MAX_QUOTE_EXCESS = 1.25  # folded quote length / folded span length
ANCHOR_SIMILARITY = 0.8

_MARKS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
    }
)
_TOKEN = re.compile(r"\w+")
# Capitalised at a sentence start, not because they name something.
# fmt: off
_FUNCTION_WORDS = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "in", "on", "at", "of",
    "for", "from", "by", "with", "and", "or", "but", "as", "when", "while", "after", "before",
    "during", "there", "here", "they", "he", "she", "we", "his", "her", "their", "our",
})
# fmt: on


@dataclass(frozen=True, slots=True)
class Span:
    """Where a quote was found: ``text[start:end]`` is the source text."""

    start: int
    end: int
    score: float
    exact: bool


@dataclass(frozen=True, slots=True)
class FoldedText:
    """A text folded for matching, with each folded character's original ``[start, end)``."""

    text: str
    folded: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> FoldedText:
        folded, starts, ends = _fold(text)
        return cls(text, folded, tuple(starts), tuple(ends))


def is_word_char(ch: str) -> bool:
    """Letters and digits; combining marks too, since they belong to the letter they follow."""
    return ch.isalnum() or (not ch.isascii() and unicodedata.category(ch).startswith("M"))


def _fold(text: str) -> tuple[str, list[int], list[int]]:
    """Fold ``text`` and map every folded character back to its original characters.

    A base character and the combining marks after it are normalised together, so "e" + U+0301
    folds to "é" as it does in the whole-string NFKC, and characters that expand ("ﬁ" -> "fi")
    map every output character to their one source.
    """
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and not text[j].isascii() and unicodedata.combining(text[j]):
            j += 1
        piece = text[i:j]
        if not piece.isascii():  # NFKC leaves ASCII unchanged
            piece = unicodedata.normalize("NFKC", piece)
        for ch in piece.casefold().translate(_MARKS):
            chars.append(ch)
            starts.append(i)
            ends.append(j)
        i = j

    out: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    gap: tuple[int, int] | None = None  # original span of the whitespace run being skipped
    for ch, start, end in zip(chars, starts, ends, strict=True):
        if ch.isspace():
            gap = (start, end) if gap is None else (gap[0], end)
            continue
        if gap is not None and out and is_word_char(out[-1]) and is_word_char(ch):
            out.append(" ")
            out_starts.append(gap[0])
            out_ends.append(gap[1])
        gap = None
        out.append(ch)
        out_starts.append(start)
        out_ends.append(end)
    return "".join(out), out_starts, out_ends


def _splits_word(text: str, start: int, end: int) -> bool:
    before = start > 0 and is_word_char(text[start - 1]) and is_word_char(text[start])
    after = end < len(text) and is_word_char(text[end]) and is_word_char(text[end - 1])
    return before or after


def _find(haystack: str, needle: str, whole_words: bool) -> int:
    """The first occurrence of ``needle`` that splits no word; failing that, unless
    ``whole_words``, the first occurrence; -1 for none."""
    first = position = haystack.find(needle)
    while position >= 0:
        if not _splits_word(haystack, position, position + len(needle)):
            return position
        position = haystack.find(needle, position + 1)
    return -1 if whole_words else first


def _can_start(folded: str, i: int) -> bool:
    return folded[i] != " " and not (
        i > 0 and is_word_char(folded[i - 1]) and is_word_char(folded[i])
    )


def _can_end(folded: str, j: int) -> bool:
    return folded[j - 1] != " " and not (
        j < len(folded) and is_word_char(folded[j - 1]) and is_word_char(folded[j])
    )


def _anchors_present(quote: str, span: str) -> bool:
    """Names and numbers of the quote must be in the span: a near-copy about another entity
    scores high on characters alone."""
    span_tokens = _TOKEN.findall(span)
    for token in _TOKEN.findall(quote):
        key = _fold(token)[0]
        if any(c.isdigit() for c in token) or (len(token) >= 2 and token.isupper()):
            if key not in span_tokens:
                return False
        elif token[0].isupper() and key not in _FUNCTION_WORDS:
            best = max((Indel.normalized_similarity(key, t) for t in span_tokens), default=0.0)
            if best < ANCHOR_SIMILARITY:
                return False
    return True


def _fuzzy(quote: str, folded_quote: str, source: FoldedText, threshold: float) -> Span | None:
    folded = source.folded
    # A quote of n characters that drops k characters of its span scores n/(n + k/2) on the whole
    # span, so reaching the threshold allows k up to 2n(1 - t)/t (0.35n at 0.85). The best window
    # of the quote's own length then scores about 1 - k/n and may sit up to k characters off
    # either end: prune below that score, and look that far for the span's ends.
    n_quote = len(folded_quote)
    omitted = 2 * n_quote * (1 - threshold) / threshold if threshold > 0 else n_quote
    omitted = min(omitted, n_quote)
    window = fuzz.partial_ratio_alignment(
        folded_quote, folded, score_cutoff=max(0.0, 100 * (1 - omitted / n_quote))
    )
    if window is None:
        return None
    slack = max(3, math.ceil(omitted))
    n = len(folded)
    lo, hi = window.dest_start, window.dest_end
    starts = [i for i in range(max(0, lo - slack), min(n, lo + slack + 1)) if _can_start(folded, i)]
    ends = [j for j in range(max(1, hi - slack), min(n, hi + slack) + 1) if _can_end(folded, j)]
    # Scripts without spaces between words have no boundaries nearby: keep the raw window.
    starts = starts or [lo]
    ends = ends or [hi]
    # Highest score; among equals the shortest, then the first.
    best: tuple[float, int, int, int, int] | None = None  # (score, -length, -start, start, end)
    for s in starts:
        for e in ends:
            if e > s:
                score = Indel.normalized_similarity(folded_quote, folded[s:e])
                candidate = (score, s - e, -s, s, e)
                if best is None or candidate > best:
                    best = candidate
    if best is None:
        return None
    score, _, _, s, e = best
    if (
        score < threshold
        or len(folded_quote) > MAX_QUOTE_EXCESS * (e - s)
        or not _anchors_present(quote, folded[s:e])
    ):
        return None
    return Span(source.starts[s], source.ends[e - 1], score, exact=False)


def ground_quote_in(
    quote: str, source: FoldedText, threshold: float = DEFAULT_THRESHOLD
) -> Span | None:
    """``ground_quote`` against a text folded once, for grounding many quotes in one chunk."""
    quote = quote.strip()
    text = source.text
    if not quote or not text:
        return None
    # Verbatim characters are kept even inside a word ("Tower" of "Towers"): the model copied
    # them. After folding, a hit inside a word ("ur" in "Curie") is chance; fuzzy matching
    # finds the whole word instead.
    position = _find(text, quote, whole_words=False)
    if position >= 0:
        return Span(position, position + len(quote), 1.0, exact=True)
    folded_quote = _fold(quote)[0]
    if not folded_quote:
        return None
    position = _find(source.folded, folded_quote, whole_words=True)
    if position >= 0:
        end = position + len(folded_quote)
        return Span(source.starts[position], source.ends[end - 1], 1.0, exact=False)
    if len(folded_quote) < MIN_FUZZY_LENGTH:
        return None
    return _fuzzy(quote, folded_quote, source, threshold)


def ground_quote(quote: str, text: str, threshold: float = DEFAULT_THRESHOLD) -> Span | None:
    """The span of ``text`` that ``quote`` copies, or None when nothing reaches ``threshold``."""
    return ground_quote_in(quote, FoldedText.of(text), threshold)
