import httpx
import pytest

from kg_pipeline.providers.redaction import MIN_PREFIX_CHARS, REDACTED, header_secrets, redact

KEY = "sk-planted-7f3a9c1e5b"  # 21 characters
LIMIT = 500


@pytest.mark.parametrize("start", range(LIMIT - len(KEY) - 2, LIMIT + 3))
def test_a_key_at_any_offset_around_the_cut_leaves_no_prefix_of_eight_characters(
    start: int,
) -> None:
    text = "x" * start + KEY + " was refused"
    kept = redact(text, [KEY], LIMIT)
    assert len(kept) <= LIMIT + len(REDACTED)
    assert KEY[:MIN_PREFIX_CHARS] not in kept


def test_a_key_the_server_cut_short_is_redacted_at_the_end_of_the_text() -> None:
    # The server echoed only the key's first 15 characters, then stopped.
    assert redact("Incorrect API key provided: " + KEY[:15], [KEY]) == (
        "Incorrect API key provided: " + REDACTED
    )


def test_a_short_tail_that_merely_resembles_a_key_is_left_alone() -> None:
    # "sk-plan" is 7 characters: below the 8 that identify a key, and common enough in prose.
    assert redact("ask sk-plan", [KEY]) == "ask sk-plan"


def test_values_too_short_to_be_secrets_are_not_replaced() -> None:
    assert redact("a b c", ["a", ""]) == "a b c"


def test_bearer_tokens_and_api_key_headers_are_secrets() -> None:
    client = httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}", "x-api-key": "ant-k"})
    assert sorted(header_secrets(client.headers)) == sorted([KEY, "ant-k"])
    assert header_secrets({"Accept": "application/json"}) == []
