import pytest

from kg_pipeline.providers.parsing import OutputParseError, parse_extraction

VALID = (
    '{"concepts": [{"concept_id": "concept_001", "label": "oven", "description": "A hot box.",'
    ' "search_terms": []}], "instances": [], "relationships": []}'
)


def test_plain_json_parses_without_repairs() -> None:
    parsed = parse_extraction(VALID)
    assert parsed.extraction.concepts[0].label == "oven"
    assert parsed.repairs == ()


def test_code_fences_are_removed_and_counted() -> None:
    parsed = parse_extraction(f"```json\n{VALID}\n```")
    assert parsed.extraction.concepts[0].label == "oven"
    assert parsed.repairs == ("code_fence",)


def test_text_around_the_json_is_ignored_and_counted() -> None:
    parsed = parse_extraction(f"Here you go:\n{VALID}\nHope this helps!")
    assert parsed.extraction.concepts and parsed.repairs == ("surrounding_text",)


def test_raw_newlines_inside_strings_are_accepted_and_counted() -> None:
    # llama.cpp's schema grammar lets raw control characters into strings.
    parsed = parse_extraction(VALID.replace("A hot box.", "A hot\nbox."))
    assert parsed.extraction.concepts[0].description == "A hot\nbox."
    assert parsed.repairs == ("control_characters",)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("  ", "empty", "empty"),
        ("Sorry, I cannot.", "no_json", "no JSON object"),
        ('{"concepts": [}', "invalid_json", "invalid JSON"),
        (
            '{"concepts": [{"concept_id": "c", "description": "d"}]}',
            "schema",
            r"concepts\.0\.label",
        ),
    ],
)
def test_each_kind_of_unusable_answer_is_named(text: str, kind: str, message: str) -> None:
    with pytest.raises(OutputParseError, match=message) as failure:
        parse_extraction(text)
    assert failure.value.kind == kind


def test_trailing_commas_are_removed_outside_strings_and_counted() -> None:
    text = VALID.replace('"search_terms": []}]', '"search_terms": ["a, ]", "b\\"",],}]')
    parsed = parse_extraction(text)
    assert parsed.extraction.concepts[0].search_terms == ["a, ]", 'b"']
    assert parsed.repairs == ("trailing_commas",)
