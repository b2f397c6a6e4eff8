"""Chunk analysis: the few cheap measurements that routing rules are written against.

The router (kg_pipeline/extraction/routing.py) computes it once per chunk and stores it with the
chunk's routing decision, so a record says not only which model answered but what the chunk looked
like when that model was chosen. It is regular expressions over the text — milliseconds for a
1,000-word chunk, against seconds for the model call — and deliberately simple enough to count by
hand, so that a rule's author can predict where a chunk goes.

What the numbers count:

- **word**: a run of non-space characters with at least one letter or digit (a CJK character is
  one word, as in chunking) — table pipes, bullets and dashes are not words.
- **line_count**: non-blank lines; the denominator of the code and table shares.
- **code block**: a fenced block (```` ``` ```` or ``~~~``, fence lines included, an unclosed
  fence running to the end) or a run of lines indented by 4 spaces or a tab that starts after a
  blank line (blank lines inside the run continue it). Fences tagged ``csv``/``tsv`` hold tables,
  so their lines are table rows, not code.
- **table**: a run of at least two consecutive lines outside code with two or more ``|`` (a
  markdown pipe table, its ``|---|`` separator included) or two or more tabs (TSV, three columns),
  or a ``csv``/``tsv`` fence. Unfenced CSV is not recognised: commas are too common in prose.
- **formula**: a LaTeX span (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``; a dollar amount such as
  "$5 and $10" is not one), or an equation written tightly outside code: operand, arithmetic
  operator (``+ * / ^``, the multiplication, division and minus signs, or a spaced hyphen),
  operand, relation (``=`` but not ``==``/``<=``/``=>``; approximately, at most, at least, not
  equal), operand — or the mirror image, ``y = a + b``. Each one counts: ``1/k ≥ 3`` is one,
  "p = 0.48" in prose is none (a value, not a formula); inline code and URLs are skipped.
- **sentence**: prose only (outside code and tables); a sentence ends at ``. ! ?`` (or their
  full-width CJK forms) followed by a space or the end, at a blank line, and at the end of a
  heading or list-item line.
  Abbreviations ("e.g.", "Dr.") therefore end sentences too: an approximation that errs towards
  shorter sentences, i.e. towards "simpler". ``avg_sentence_length`` is the words of those
  sentences over their number (0 without prose); ``word_count`` counts every word, code included.
- **technical term**: a word that is inline code (in backticks), camelCase or PascalCase with an
  inner capital (``getUser``, ``PostgreSQL``), snake_case, a dotted identifier whose parts have
  two or more characters (``os.path``, ``config.yaml``; not "e.g."), letters mixed with digits
  (``sha256``, ``H2O``, ``5GHz``; not ordinals or decades such as "2nd", "1990s"), an all-caps
  acronym of two or more letters (``HTTP``, ``APIs``), or a word ending in one of
  ``TECHNICAL_SUFFIXES`` (``algorithm``, ``spectrometry``, ``hydrolysis``). The density is their
  share of all words.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

Complexity = Literal["simple", "medium", "complex"]
ContentType = Literal["prose", "code", "table"]

# Thresholds, from the plan this replaces: long sentences, dense jargon or mathematics call for
# the larger model; short, plain chunks are safe with the fast one.
COMPLEX_MIN_AVG_SENTENCE = 25.0  # words per sentence, exclusive
COMPLEX_MIN_DENSITY = 0.15  # exclusive
COMPLEX_MIN_FORMULAS = 2  # inclusive
SIMPLE_MAX_WORDS = 300  # exclusive
SIMPLE_MAX_AVG_SENTENCE = 15.0  # exclusive
SIMPLE_MAX_DENSITY = 0.05  # exclusive
# A chunk is code (or a table) when that much of its non-blank lines are code (table rows).
CODE_MIN_SHARE = 0.30
TABLE_MIN_SHARE = 0.30

TECHNICAL_SUFFIXES = (
    "ithm",  # algorithm
    "ometry",  # spectrometry, geometry
    "ometer",  # spectrometer, accelerometer
    "ography",  # chromatography, tomography
    "ology",  # methodology, topology
    "itis",  # arthritis
    "ectomy",  # appendectomy
    "oscopy",  # endoscopy
    "lysis",  # hydrolysis, analysis
    "genesis",  # pathogenesis
    "osis",  # fibrosis, osmosis
)

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"  # as chunking.py
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")
_ALPHANUMERIC = re.compile(r"[^\W_]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_TABULAR_FENCES = frozenset({"csv", "tsv"})
_HEADING_OR_ITEM = re.compile(r"^\s*(#{1,6}\s|[-*+]\s|\d{1,3}[.)]\s)")
# Western stops end a sentence before a space; CJK full-width stops, which no space follows,
# always do.
_CLOSERS = "[\"'\u201d\u2019)\\]]*"
_SENTENCE_END = re.compile(rf"(?<=[.!?]){_CLOSERS}(?:\s+|$)|(?<=[\u3002\uff01\uff1f]){_CLOSERS}\s*")
_LATEX = re.compile(
    r"\$\$.+?\$\$|\\\(.+?\\\)|\\\[.+?\\\]|\$(?=[^\s$])[^$\n]+?(?<=\S)\$(?!\d)", re.DOTALL
)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"\w+://\S+")
# An equation written tightly (at most one space around each symbol): operand, operator,
# operand, relation, operand — or the mirror image. A hyphen is an operator only when spaced.
_OPERAND = r"[-\u2212]?[\w.()\[\]]+"
_OPERATOR = r"(?: ?[+*/^\u00d7\u00f7\u00b7\u2212] ?| - )"
_RELATION = r" ?(?:(?<![=<>!])=(?![=>])|[\u2248\u2260\u2264\u2265]) ?"
_EQUATION = re.compile(
    rf"{_OPERAND}{_OPERATOR}{_OPERAND}{_RELATION}{_OPERAND}"
    rf"|{_OPERAND}{_RELATION}{_OPERAND}{_OPERATOR}{_OPERAND}"
)
_EDGE_PUNCTUATION = "()[]{}<>,.;:!?\"'\u201c\u201d\u2018\u2019*"
_CAMEL = re.compile(r"[a-z][A-Z]")
_SNAKE = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]")
_DOTTED = re.compile(r"[A-Za-z_][\w-]+(?:\.[\w-]{2,})+")
_ACRONYM = re.compile(r"[A-Z]{2,}s?")
_ORDINAL_OR_DECADE = re.compile(r"\d+(?:st|nd|rd|th|s)")
# Two or more letters before the suffix, and an optional plural "s".
_SUFFIXED = re.compile(rf"[^\W\d_]{{2,}}(?:{'|'.join(TECHNICAL_SUFFIXES)})s?")


class ChunkAnalysis(BaseModel):
    """One chunk's measurements and the two labels derived from them (see the module docstring
    for what each figure counts, and the constants above for the thresholds)."""

    word_count: int = Field(ge=0)
    sentence_count: int = Field(ge=0)
    avg_sentence_length: float = Field(ge=0, description="Prose words per prose sentence.")
    technical_term_density: float = Field(ge=0, le=1, description="Technical words / words.")
    line_count: int = Field(ge=0, description="Non-blank lines.")
    code_blocks: int = Field(ge=0)
    code_lines: int = Field(ge=0)
    formulas: int = Field(ge=0)
    tables: int = Field(ge=0)
    table_rows: int = Field(ge=0)
    complexity: Complexity
    content_type: ContentType


def _is_word(token: str) -> bool:
    return _ALPHANUMERIC.search(token) is not None


def is_technical(token: str) -> bool:
    """Whether one word counts towards the technical-term density (rules in the docstring)."""
    bare = token.rstrip(",.;:!?)\"'")
    if len(bare) > 1 and (bare.startswith("`") or bare.endswith("`")):
        return True
    word = token.strip(_EDGE_PUNCTUATION + "`")
    if not word:
        return False
    if _SNAKE.search(word) or _CAMEL.search(word) or _ACRONYM.fullmatch(word):
        return True
    if _DOTTED.fullmatch(word):
        return True
    has_letter = any(c.isalpha() for c in word)
    has_digit = any(c.isdigit() for c in word)
    if has_letter and has_digit and not _ORDINAL_OR_DECADE.fullmatch(word.lower()):
        return True
    return _SUFFIXED.fullmatch(word.lower()) is not None


def _line_kinds(lines: list[str]) -> tuple[list[str], int, int]:
    """Each line's kind (blank, code, table, prose) plus the number of code blocks and of
    tables found while reading them."""
    kinds = ["prose"] * len(lines)
    code_blocks = tables = 0
    fence: str | None = None  # the open fence's marker
    fence_kind = "code"
    indented = False  # inside an indented code run
    for i, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence is not None:
            kinds[i] = fence_kind
            if opening and opening.group(1).startswith(fence) and not opening.group(2):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            tabular = opening.group(2).lower() in _TABULAR_FENCES
            fence_kind = "table" if tabular else "code"
            tables, code_blocks = tables + tabular, code_blocks + (not tabular)
            kinds[i] = fence_kind
            indented = False
            continue
        if not line.strip():
            kinds[i] = "blank"
            continue
        if line.startswith(("    ", "\t")) and (indented or i == 0 or kinds[i - 1] == "blank"):
            code_blocks += not indented
            indented = True
            kinds[i] = "code"
            continue
        indented = False
    # Table rows: runs of two or more tabular lines among the rest.
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and kinds[j] == "prose" and _looks_tabular(lines[j]):
            j += 1
        if j - i >= 2:
            kinds[i:j] = ["table"] * (j - i)
            tables += 1
        i = max(j, i + 1)
    return kinds, code_blocks, tables


def _looks_tabular(line: str) -> bool:
    return line.replace("\\|", "").count("|") >= 2 or line.count("\t") >= 2


def _count_formulas(lines: list[str], kinds: list[str]) -> int:
    """LaTeX spans, then tight equations in what is left; inline code and URLs are not
    mathematics (a regex such as `\\[a-z\\]` would otherwise read as LaTeX)."""
    outside_code = [line for line, kind in zip(lines, kinds, strict=True) if kind != "code"]
    text = _URL.sub(" ", _INLINE_CODE.sub(" ", "\n".join(outside_code)))
    latex = len(_LATEX.findall(text))
    return latex + len(_EQUATION.findall(_LATEX.sub(" ", text)))


def _sentences(lines: list[str], kinds: list[str]) -> tuple[int, int]:
    """(sentences, words in them) over the prose lines."""
    pieces: list[str] = []
    paragraph: list[str] = []
    for line, kind in zip(lines, kinds, strict=True):
        if kind != "prose":
            pieces.append(" ".join(paragraph))
            paragraph = []
            continue
        paragraph.append(line.strip())
        if _HEADING_OR_ITEM.match(line):
            pieces.append(" ".join(paragraph))
            paragraph = []
    pieces.append(" ".join(paragraph))
    sentences = words = 0
    for piece in pieces:
        for sentence in _SENTENCE_END.split(piece):
            count = sum(1 for token in _TOKEN.findall(sentence) if _is_word(token))
            if count:
                sentences += 1
                words += count
    return sentences, words


def classify(
    word_count: int, avg_sentence_length: float, density: float, formulas: int
) -> Complexity:
    if (
        avg_sentence_length > COMPLEX_MIN_AVG_SENTENCE
        or density > COMPLEX_MIN_DENSITY
        or formulas >= COMPLEX_MIN_FORMULAS
    ):
        return "complex"
    if (
        word_count < SIMPLE_MAX_WORDS
        and avg_sentence_length < SIMPLE_MAX_AVG_SENTENCE
        and density < SIMPLE_MAX_DENSITY
    ):
        return "simple"
    return "medium"


def analyse(text: str) -> ChunkAnalysis:
    lines = text.splitlines()
    kinds, code_blocks, tables = _line_kinds(lines)
    words = [token for token in _TOKEN.findall(text) if _is_word(token)]
    technical = sum(1 for word in words if is_technical(word))
    sentences, prose_words = _sentences(lines, kinds)
    line_count = sum(1 for kind in kinds if kind != "blank")
    code_lines, table_rows = kinds.count("code"), kinds.count("table")
    formulas = _count_formulas(lines, kinds)
    avg = round(prose_words / sentences, 2) if sentences else 0.0
    density = round(technical / len(words), 4) if words else 0.0
    content_type: ContentType = "prose"
    if line_count and code_lines / line_count >= CODE_MIN_SHARE:
        content_type = "code"
    elif line_count and table_rows / line_count >= TABLE_MIN_SHARE:
        content_type = "table"
    return ChunkAnalysis(
        word_count=len(words),
        sentence_count=sentences,
        avg_sentence_length=avg,
        technical_term_density=density,
        line_count=line_count,
        code_blocks=code_blocks,
        code_lines=code_lines,
        formulas=formulas,
        tables=tables,
        table_rows=table_rows,
        complexity=classify(len(words), avg, density, formulas),
        content_type=content_type,
    )
