import pytest

from kg_pipeline.providers.parsing import OutputParseError, parse_extraction

VALID = (
    '{"concepts": [{"concept_id": "concept_001", "label": "oven", "description": "A hot box.",'
    ' "search_terms": []}], "instances": [], "relationships": []}'
)


def test_plain_json_parses() -> None:
    assert parse_extraction(VALID).concepts[0].label == "oven"


def test_code_fences_are_removed() -> None:
    assert parse_extraction(f"```json\n{VALID}\n```").concepts[0].label == "oven"


def test_text_around_the_json_is_ignored() -> None:
    assert parse_extraction(f"Here you go:\n{VALID}\nHope this helps!").concepts


def test_raw_newlines_inside_strings_are_accepted() -> None:
    # llama.cpp's schema grammar lets raw control characters into strings.
    text = VALID.replace("A hot box.", "A hot\nbox.")
    assert parse_extraction(text).concepts[0].description == "A hot\nbox."


def test_empty_content_is_reported() -> None:
    with pytest.raises(OutputParseError, match="empty"):
        parse_extraction("  ")


def test_invalid_json_is_reported() -> None:
    with pytest.raises(OutputParseError, match="invalid JSON"):
        parse_extraction('{"concepts": [}')


def test_a_schema_mismatch_names_the_first_bad_field() -> None:
    with pytest.raises(OutputParseError, match=r"concepts\.0\.label"):
        parse_extraction('{"concepts": [{"concept_id": "c", "description": "d"}]}')
