"""Quote matching: quotes a small model almost copied are found and mapped to original offsets;
quotes of something else are not."""

from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import Indel

from kg_pipeline.extraction.quote_matching import DEFAULT_THRESHOLD, Span, ground_quote

TEXT = (
    "In Paris, the Eiffel  Tower was completed in 1889, after two years of work. "
    "It was built for the World\u2019s Fair. Pierre Curie won the Nobel Prize in 1903 with his "
    "wife. The U.S. army arrived \u201clate\u201d that day."
)


def source(span: Span | None, text: str = TEXT) -> str:
    assert span is not None
    return text[span.start : span.end]


def test_exact_substring_is_found_verbatim_with_full_score() -> None:
    span = ground_quote("Pierre Curie won the Nobel Prize", TEXT)
    assert span == Span(TEXT.index("Pierre"), TEXT.index(" in 1903"), 1.0, exact=True)


def test_exact_match_prefers_the_first_occurrence_that_splits_no_word() -> None:
    text = "Towers rise. A Tower stands. The Tower falls."
    assert ground_quote("Tower", text) == Span(15, 20, 1.0, exact=True)


def test_exact_match_inside_a_word_is_kept_when_the_word_is_nowhere_whole() -> None:
    # The model copied these characters verbatim; they point at the right place.
    assert ground_quote("Tower", "Towers rise.") == Span(0, 5, 1.0, exact=True)


def test_whitespace_and_case_changes_map_to_the_original_offsets() -> None:
    span = ground_quote("the eiffel tower was COMPLETED", TEXT)
    assert span is not None
    assert (span.score, span.exact) == (1.0, False)
    assert span.start == TEXT.index("the Eiffel")
    assert source(span) == "the Eiffel  Tower was completed"  # two spaces, as in the text


def test_straight_quote_marks_find_curly_ones() -> None:
    assert source(ground_quote("World's Fair", TEXT)) == "World\u2019s Fair"
    assert source(ground_quote('"late" that day', TEXT)) == "\u201clate\u201d that day"


def test_tokenizer_space_before_punctuation_is_forgiven() -> None:
    assert source(ground_quote("The U.S . army", TEXT)) == "The U.S. army"
    assert source(ground_quote("Paris , the Eiffel Tower", TEXT)) == "Paris, the Eiffel  Tower"


def test_quote_missing_one_short_word_is_repaired_to_the_whole_span() -> None:
    span = ground_quote("Pierre Curie won Nobel Prize in 1903", TEXT)
    # Folded: 36 characters against the span's 40; "the " is 4 insertions: 1 - 4/76.
    assert span is not None and not span.exact
    assert source(span) == "Pierre Curie won the Nobel Prize in 1903"
    assert abs(span.score - (1 - 4 / 76)) < 1e-9


def test_fuzzy_span_ends_on_a_word_without_dangling_punctuation() -> None:
    # The text has "completed in 1889, after"; the span must stop at "1889", not at the comma.
    span = ground_quote("Eiffel Tower was completed 1889", TEXT)
    assert source(span) == "Eiffel  Tower was completed in 1889"


def test_fuzzy_span_never_starts_or_ends_inside_a_word() -> None:
    text = "The bakers knead the dough by hand every morning before dawn."
    span = ground_quote("bakers kneaded dough by hand every morning", text)
    # "kneaded" vs "knead the": the span grows to whole words, never "knead" + half of "the".
    assert source(span, text) == "bakers knead the dough by hand every morning"


def test_paraphrase_is_rejected() -> None:
    assert ground_quote("The Eiffel Tower was finished in the year 1889", TEXT) is None


def test_quote_of_another_passage_is_rejected() -> None:
    assert ground_quote("the Louvre Museum", TEXT) is None
    assert ground_quote("a wrought-iron lattice tower on the Champ de Mars", TEXT) is None


def test_near_copy_naming_another_person_is_rejected_although_its_characters_score_high() -> None:
    quote = "Marie Curie won the Nobel Prize in 1903"
    # Over the threshold on characters alone (0.91): only the name tells them apart.
    assert (
        Indel.normalized_similarity(quote.casefold(), "pierre curie won the nobel prize in 1903")
        > DEFAULT_THRESHOLD
    )
    assert ground_quote(quote, TEXT) is None


def test_near_copy_with_another_number_is_rejected() -> None:
    assert ground_quote("Pierre Curie won the Nobel Prize in 1904", TEXT) is None


def test_misspelt_name_is_still_found() -> None:
    assert (
        source(ground_quote("the Eifel Tower was completed", TEXT))
        == "the Eiffel  Tower was completed"
    )


def test_quote_with_invented_extra_content_is_rejected_even_at_a_low_threshold() -> None:
    quote = "the Eiffel Tower was completed in 1889 after a long and famous public debate"
    assert ground_quote(quote, TEXT, threshold=0.5) is None


def test_tiny_quotes_match_only_exactly_or_after_folding() -> None:
    assert ground_quote("us", "The US army") == Span(4, 6, 1.0, exact=False)
    assert ground_quote("US", "The U.S. army") is None  # "us" vs "u.s." would need fuzzy
    assert ground_quote("Ux", "The U.S. army", threshold=0.0) is None
    # Folded "ar" occurs only inside "army": chance, not a match.
    assert ground_quote("AR", "The U.S. army") is None


def test_offsets_stay_right_after_non_ascii_letters() -> None:
    text = "Le cafe\u0301 de Z\u00fcrich\u2019s Gro\u00dfm\u00fcnster \ufb01nally reopened."
    span = ground_quote("CAF\u00c9 de z\u00fcrich's grossm\u00fcnster finally", text)
    assert span is not None and not span.exact
    assert span.start == text.index("cafe")
    assert (
        source(span, text) == "cafe\u0301 de Z\u00fcrich\u2019s Gro\u00dfm\u00fcnster \ufb01nally"
    )


def test_fuzzy_offsets_stay_right_after_non_ascii_letters() -> None:
    text = "\u00c0 \u00e9t\u00e9 d\u00e9j\u00e0 vu: the bakers knead the dough by hand."
    span = ground_quote("bakers knead dough by hand", text)
    assert source(span, text) == "bakers knead the dough by hand"


def test_empty_text_or_blank_quote_grounds_nothing() -> None:
    assert ground_quote("anything", "") is None
    assert ground_quote("   ", TEXT) is None
    assert ground_quote("...", "no dots here") is None


def test_quote_far_into_a_long_chunk_is_found() -> None:
    filler = " ".join(f"word{i}" for i in range(1500))
    text = f"{filler} The kiln was fired at dawn by the potter. {filler}"
    span = ground_quote("The kiln was fired at dawn by potter", text)
    assert span is not None and span.start == len(filler) + 1
    assert source(span, text) == "The kiln was fired at dawn by the potter"


@given(st.text(min_size=1, max_size=200), st.data())
def test_any_substring_grounds_to_itself(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end].strip()
    span = ground_quote(quote, text)
    if not quote:
        assert span is None
    else:
        assert span is not None and span.exact and source(span, text) == quote


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=120), st.text(max_size=40))
def test_any_span_lies_in_the_text_and_is_trimmed(text: str, quote: str) -> None:
    span = ground_quote(quote, text, threshold=0.5)
    if span is not None:
        assert 0 <= span.start < span.end <= len(text)
        found = text[span.start : span.end]
        assert found == found.strip()
        assert 0.5 <= span.score <= 1.0
