"""Documents -> chunks.

Chunks are cut where meaning breaks (paragraph, then sentence, then clause) so that a model sees
whole statements, and overlap so that a relationship spanning a cut is still seen whole once.
Sizes are in words because model budgets and reference annotations are reasoned about in words.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass

from pydantic import BaseModel

from kg_pipeline.errors import KgError

# CJK characters count as one word each: such text has no spaces, and counting a whole paragraph
# as one "word" would defeat every size limit.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
# A full stop ends a sentence; an ellipsis ("...") is only a pause, ranked with clause ends.
_CLOSERS = "\"'\u201d\u2019)\\]"  # closing quotes and brackets may follow the punctuation
_SENTENCE_END = re.compile(rf"(?:(?<!\.\.)\.|[!?\u3002\uff01\uff1f])[{_CLOSERS}]*$")
_CLAUSE_END = re.compile(rf"(;|\u2014|\.\.\.|\u2026)[{_CLOSERS}]*$")
_PARAGRAPH_GAP = re.compile(r"\n[ \t]*\n")
_MAX_TOKEN_CHARS = 64


class ChunkingError(KgError, ValueError):
    """The chunking settings contradict one another."""


@dataclass(frozen=True)
class ChunkingConfig:
    target_words: int = 1000
    min_words: int = 800
    max_words: int = 1500
    overlap_words: int = 200
    # Words bound a chunk for prose; characters bound it for everything else (a 100,000-character
    # line of base64 or a table with no spaces), so no chunk outgrows a model's context.
    max_chars: int = 12_000

    def __post_init__(self) -> None:
        if not 0 <= self.overlap_words < self.min_words <= self.target_words <= self.max_words:
            raise ChunkingError(
                "chunking needs 0 <= overlap < min <= target <= max words; got "
                f"overlap={self.overlap_words}, min={self.min_words}, "
                f"target={self.target_words}, max={self.max_words}"
            )
        if self.max_chars < 4 * _MAX_TOKEN_CHARS:
            raise ChunkingError(f"max_chars must be at least {4 * _MAX_TOKEN_CHARS}")


class Chunk(BaseModel):
    chunk_id: str
    document_id: str
    index: int
    text: str
    start_char: int
    end_char: int
    start_word: int
    end_word: int  # exclusive

    @property
    def word_count(self) -> int:
        return self.end_word - self.start_word


@dataclass(frozen=True)
class _Word:
    start: int
    end: int


def _words(text: str) -> list[_Word]:
    """Word spans; a run of more than ``_MAX_TOKEN_CHARS`` non-space characters (a URL, base64)
    counts as several words, so one token can never exceed a chunk's size."""
    words = []
    for match in _WORD.finditer(text):
        start, end = match.start(), match.end()
        while end - start > _MAX_TOKEN_CHARS:
            words.append(_Word(start, start + _MAX_TOKEN_CHARS))
            start += _MAX_TOKEN_CHARS
        words.append(_Word(start, end))
    return words


def _boundary_rank(text: str, words: list[_Word], cut: int) -> int:
    """How good a cut before word ``cut`` is: 3 paragraph, 2 sentence, 1 clause, 0 none."""
    before = text[words[cut - 1].start : words[cut - 1].end]
    if _PARAGRAPH_GAP.search(text[words[cut - 1].end : words[cut].start]):
        return 3
    if _SENTENCE_END.search(before):
        return 2
    if _CLAUSE_END.search(before):
        return 1
    return 0


def _choose_cut(text: str, words: list[_Word], lo: int, hi: int, target: int) -> int:
    """Best boundary in [lo, hi]: the strongest kind present, and of that kind the one nearest
    the target; with no boundary at all, a hard cut at ``hi``."""
    best_rank, best_cut = 0, hi
    for cut in range(lo, hi + 1):
        rank = _boundary_rank(text, words, cut)
        if rank > best_rank or (
            rank == best_rank and rank > 0 and abs(cut - target) < abs(best_cut - target)
        ):
            best_rank, best_cut = rank, cut
    return best_cut


def _chunk_id(document_id: str, index: int, text: str) -> str:
    """Stable across runs, and different when the chunk's text changes (so caches never serve a
    stale answer for an edited document)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return f"{document_id}#{index:03d}-{digest}"


def chunk_document(
    document_id: str, text: str, config: ChunkingConfig | None = None
) -> list[Chunk]:
    cfg = config or ChunkingConfig()
    words = _words(text)
    ends = [w.end for w in words]
    n = len(words)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        # The furthest cut that keeps the chunk within max_chars (at least one word).
        char_limit = max(start + 1, bisect_right(ends, words[start].start + cfg.max_chars))
        if n - start <= cfg.max_words and char_limit >= n:
            spans.append((start, n))  # the rest fits: a short remainder joins this last chunk
            break
        hi = min(start + cfg.max_words, char_limit, n)
        lo = min(start + cfg.min_words, hi)
        # Leave the next chunk at least min_words (counting its overlap) whenever possible, so
        # no undersized tail chunk is produced.
        tail_safe_hi = n - cfg.min_words + cfg.overlap_words
        if lo <= tail_safe_hi < hi:
            hi = tail_safe_hi
        cut = _choose_cut(text, words, lo, hi, start + cfg.target_words) if hi < n else n
        spans.append((start, cut))
        if cut >= n:
            break
        # Overlap, unless the chunk is so short (character-bound) that it would not advance.
        start = cut - cfg.overlap_words if cut - cfg.overlap_words > start else cut
    chunks = []
    for index, (first, last) in enumerate(spans):
        start_char, end_char = words[first].start, words[last - 1].end
        chunk_text = text[start_char:end_char]
        chunks.append(
            Chunk(
                chunk_id=_chunk_id(document_id, index, chunk_text),
                document_id=document_id,
                index=index,
                text=chunk_text,
                start_char=start_char,
                end_char=end_char,
                start_word=first,
                end_word=last,
            )
        )
    return chunks


def count_words(text: str) -> int:
    return len(_WORD.findall(text))
