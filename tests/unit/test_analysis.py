"""Chunk analysis on small texts whose figures are counted by hand (definitions in
kg_pipeline/corpus/analysis.py), and the thresholds at their edges."""

from pathlib import Path

import pytest

from kg_pipeline.corpus.analysis import analyse, classify, is_technical

CORPUS = Path(__file__).resolve().parents[2] / "test_corpus"


def test_plain_short_prose_is_simple_prose_with_counted_sentences() -> None:
    analysis = analyse("The cat sat on the mat. It was warm! Was it happy? Yes.")
    # Sentences: 6 + 3 + 3 + 1 words = 13 words in 4 sentences -> 3.25 words each.
    assert (analysis.word_count, analysis.sentence_count) == (13, 4)
    assert analysis.avg_sentence_length == 3.25
    assert analysis.technical_term_density == 0.0
    assert (analysis.complexity, analysis.content_type) == ("simple", "prose")


def test_identifiers_acronyms_and_mixed_tokens_raise_the_technical_density() -> None:
    analysis = analyse(
        "Call `get_user` on the HTTP API. The getUser method returns JSON via os.path and sha256."
    )
    # 15 words; technical: `get_user` (inline code), HTTP, API (acronyms), getUser (camelCase),
    # JSON (acronym), os.path (dotted), sha256 (letters and digits) = 7 -> 7/15 = 0.4667.
    assert analysis.word_count == 15
    assert analysis.technical_term_density == 0.4667
    assert (analysis.sentence_count, analysis.avg_sentence_length) == (2, 7.5)  # 6 + 9 words
    assert analysis.complexity == "complex"  # density > 0.15


@pytest.mark.parametrize(
    ("word", "technical"),
    [
        ("snake_case", True), ("camelCase", True), ("PostgreSQL", True), ("config.yaml", True),
        ("H2O", True), ("5GHz", True), ("APIs", True), ("algorithms", True),
        ("spectrometry", True), ("hydrolysis", True), ("`maxsize`,", True), ("(HTTP).", True),
        ("e.g.", False), ("U.S.", False), ("2nd", False), ("1990s", False), ("I", False),
        ("Hello", False), ("well-known", False), ("3.5", False), ("apology", True),
    ],
)  # fmt: skip
def test_which_words_count_as_technical_terms(word: str, technical: bool) -> None:
    # "apology" shows the suffix list's known false positive (-ology): one word in a chunk.
    assert is_technical(word) is technical


def test_a_fenced_block_that_fills_the_chunk_makes_it_code_and_its_equations_no_formulas() -> None:
    text = "Set two values.\n\n```python\nx = 1\ny = x + 1\n```\n\nThen print them."
    analysis = analyse(text)
    # Non-blank lines: 2 prose + 4 in the fence (fences included) = 6; code share 4/6 >= 0.3.
    assert (analysis.line_count, analysis.code_lines, analysis.code_blocks) == (6, 4, 1)
    assert analysis.content_type == "code"
    assert analysis.formulas == 0  # "y = x + 1" is code, not mathematics
    # Words: Set two values (3), "```python" (has letters: 1), x 1 (2), y x 1 (3), Then print
    # them (3) = 12; "=", "+" and the closing fence are not words.
    assert analysis.word_count == 12
    assert (analysis.sentence_count, analysis.avg_sentence_length) == (2, 3.0)


def test_indented_code_after_a_blank_line_is_one_block_across_blank_lines() -> None:
    analysis = analyse("Intro:\n\n    a = 1\n    b = 2\n\n    c = 3\nDone.\n- item\n    - sub")
    # "a", "b", "c" lines form one block (the blank line continues it); "    - sub" follows a
    # non-blank line (a nested list item), so it is not code. Non-blank lines: 7; code 3.
    assert (analysis.code_blocks, analysis.code_lines, analysis.line_count) == (1, 3, 7)
    assert analysis.content_type == "code"  # 3/7 = 0.43


def test_pipe_tables_count_rows_and_tables_and_their_pipes_are_not_words() -> None:
    text = "Prices:\n\n| fruit | price |\n|---|---|\n| apple | 3 |\n| pear | 4 |\n\nThat is all."
    analysis = analyse(text)
    assert (analysis.tables, analysis.table_rows, analysis.line_count) == (1, 4, 6)
    assert analysis.content_type == "table"  # 4/6 rows
    # Words: Prices: (1) + fruit, price, apple, 3, pear, 4 (6) + That is all (3) = 10; the
    # sentences are the prose only: "Prices:" and "That is all." -> 4 words / 2.
    assert analysis.word_count == 10
    assert (analysis.sentence_count, analysis.avg_sentence_length) == (2, 2.0)


def test_tsv_rows_and_csv_fences_are_tables_but_a_lone_piped_line_is_not() -> None:
    tsv = analyse("a\tb\tc\n1\t2\t3")
    assert (tsv.tables, tsv.table_rows) == (1, 2)
    csv = analyse("```csv\ncity,mm\nBergen,190\n```")
    assert (csv.tables, csv.table_rows, csv.code_blocks, csv.code_lines) == (1, 4, 0, 0)
    assert csv.content_type == "table"
    lone = analyse("Choose a | b | c and go.")
    assert (lone.tables, lone.table_rows, lone.content_type) == (0, 0, "prose")


def test_latex_and_tight_equations_are_formulas_but_prices_and_reported_values_are_not() -> None:
    analysis = analyse(
        "$E = mc^2$ and \\(a^2\\) hold. The price is $5 and $10. We found p = 0.48 in prose. "
        "Then y = a + b and 1/k ≥ 3."
    )
    # $E = mc^2$ and \(a^2\) are LaTeX (2); "y = a + b" and "1/k ≥ 3" are equations (2);
    # "$5 and $10" is money and "p = 0.48" a value -> 4.
    assert analysis.formulas == 4
    assert analysis.complexity == "complex"  # >= 2 formulas


def test_headings_and_list_items_end_sentences_but_a_wrapped_line_does_not() -> None:
    analysis = analyse("# Title\n- first item\n- second item\nThis sentence is\nwrapped here.")
    # "#" and "-" are not words. Sentences: Title (1), first item (2), second item (2),
    # "This sentence is wrapped here." (5) -> 10 words / 4 sentences = 2.5.
    assert (analysis.word_count, analysis.sentence_count) == (10, 4)
    assert analysis.avg_sentence_length == 2.5


def test_cjk_characters_are_words_and_full_stops_end_sentences() -> None:
    analysis = analyse("日本語です。今日は晴れ。")
    # 日本語です (5 characters) and 今日は晴れ (5): no spaces, yet two sentences of 5 words.
    assert (analysis.word_count, analysis.sentence_count, analysis.avg_sentence_length) == (
        10,
        2,
        5.0,
    )


def test_one_long_sentence_is_complex_and_empty_text_is_simple_prose() -> None:
    long = analyse(" ".join(["word"] * 30) + ".")
    assert (long.sentence_count, long.avg_sentence_length, long.complexity) == (1, 30.0, "complex")
    empty = analyse("")
    assert (empty.word_count, empty.sentence_count, empty.avg_sentence_length) == (0, 0, 0.0)
    assert (empty.complexity, empty.content_type) == ("simple", "prose")


@pytest.mark.parametrize(
    ("words", "avg", "density", "formulas", "expected"),
    [
        (299, 14.99, 0.0499, 1, "simple"),
        (300, 14.99, 0.0499, 0, "medium"),  # words < 300 for simple
        (100, 15.0, 0.0, 0, "medium"),  # avg < 15 for simple
        (100, 10.0, 0.05, 0, "medium"),  # density < 0.05 for simple
        (100, 25.0, 0.0, 0, "medium"),  # avg > 25 for complex
        (100, 25.01, 0.0, 0, "complex"),
        (100, 10.0, 0.15, 0, "medium"),  # density > 0.15 for complex
        (100, 10.0, 0.1501, 0, "complex"),
        (100, 10.0, 0.0, 2, "complex"),  # formulas >= 2
    ],
)
def test_complexity_thresholds_at_their_edges(
    words: int, avg: float, density: float, formulas: int, expected: str
) -> None:
    assert classify(words, avg, density, formulas) == expected


@pytest.mark.parametrize(
    ("document", "content_type"),
    [
        ("technical/ta_python_lru_cache.md", "code"),  # two fenced blocks, 36 of 46 lines
        ("structured/st_monthly_rainfall_csv.md", "table"),  # a csv fence
        ("conversational/cv_are_you_coming.md", "prose"),
    ],
)
def test_corpus_documents_get_the_content_type_a_reader_would_give(
    document: str, content_type: str
) -> None:
    assert analyse((CORPUS / document).read_text(encoding="utf-8")).content_type == content_type
