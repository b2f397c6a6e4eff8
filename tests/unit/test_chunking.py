import itertools
import random

import pytest

from kg_pipeline.corpus.chunking import ChunkingConfig, ChunkingError, chunk_document, count_words

SMALL = ChunkingConfig(target_words=100, min_words=80, max_words=150, overlap_words=20)


def words(n: int, start: int = 0) -> list[str]:
    return [f"w{i}" for i in range(start, start + n)]


def test_short_document_is_one_chunk_holding_the_whole_text() -> None:
    text = "One sentence.\n\nAnother one here."
    chunks = chunk_document("cat/doc", text, SMALL)
    assert len(chunks) == 1
    assert chunks[0].text == text
    assert chunks[0].word_count == 5


def test_cut_falls_on_the_paragraph_break_nearest_the_target() -> None:
    # Paragraph breaks after word 85 and after word 110; sentence ends everywhere else would
    # also qualify, but a paragraph break beats them. 110 is 10 from the target of 100, 85 is 15.
    body = (
        " ".join(words(85)) + ".\n\n" + " ".join(words(25, 85)) + ".\n\n" + " ".join(words(90, 110))
    )
    chunks = chunk_document("d", body, SMALL)
    assert chunks[0].end_word == 110
    assert chunks[0].text.endswith("w109.")


def test_without_paragraph_break_the_cut_falls_on_a_sentence_end() -> None:
    sentences = [" ".join(words(7, i)) + "." for i in range(0, 210, 7)]  # ends after 7, 14, ...
    chunks = chunk_document("d", " ".join(sentences), SMALL)
    # Sentence ends fall after multiples of 7; the one nearest 100 is 98.
    assert chunks[0].end_word == 98
    assert chunks[0].text.endswith(".")


def test_without_sentence_end_the_cut_falls_on_clause_punctuation() -> None:
    tokens = words(210)
    tokens[89] += ";"  # a cut after word 90
    tokens[119] += "..."  # a cut after word 120
    chunks = chunk_document("d", " ".join(tokens), SMALL)
    assert chunks[0].end_word == 90  # 10 from the target beats 20


def test_without_any_boundary_the_cut_is_hard_at_max() -> None:
    chunks = chunk_document("d", " ".join(words(400)), SMALL)
    assert chunks[0].word_count == 150


def test_a_remainder_under_min_joins_the_last_chunk() -> None:
    # 140 words fit under max: one chunk, never a 100 + 40 split.
    sentences = " ".join(" ".join(words(10, i)) + "." for i in range(0, 140, 10))
    chunks = chunk_document("d", sentences, SMALL)
    assert len(chunks) == 1 and chunks[0].word_count == 140


def test_no_tail_chunk_is_shorter_than_min_when_the_text_allows() -> None:
    # 160 words: a cut at the target (100) would leave 60 + 20 overlap = 80 words, exactly min;
    # cuts are held back so the tail keeps at least min words.
    sentences = " ".join(" ".join(words(5, i)) + "." for i in range(0, 160, 5))
    chunks = chunk_document("d", sentences, SMALL)
    assert [c.word_count >= SMALL.min_words for c in chunks] == [True] * len(chunks)


def test_consecutive_chunks_overlap_by_the_configured_words() -> None:
    chunks = chunk_document("d", " ".join(words(400)), SMALL)
    for before, after in itertools.pairwise(chunks):
        assert after.start_word == before.end_word - SMALL.overlap_words


@pytest.mark.parametrize("seed", range(25))
def test_no_chunk_exceeds_max_and_every_word_lands_in_a_chunk(seed: int) -> None:
    rng = random.Random(seed)
    pieces = []
    for i in range(rng.randint(1, 900)):
        token = f"t{i}"
        roll = rng.random()
        token += "." if roll < 0.05 else ";" if roll < 0.07 else ""
        pieces.append(token + ("\n\n" if rng.random() < 0.01 else " "))
    text = "".join(pieces)
    chunks = chunk_document("d", text, SMALL)
    assert all(c.word_count <= SMALL.max_words for c in chunks)
    covered: set[int] = set()
    for c in chunks:
        covered.update(range(c.start_word, c.end_word))
        assert c.text == text[c.start_char : c.end_char]
    assert covered == set(range(count_words(text)))


def test_chunk_ids_are_stable_across_runs_and_change_with_the_text() -> None:
    text = " ".join(words(400))
    first = [c.chunk_id for c in chunk_document("cat/doc", text, SMALL)]
    again = [c.chunk_id for c in chunk_document("cat/doc", text, SMALL)]
    edited = [c.chunk_id for c in chunk_document("cat/doc", "changed " + text, SMALL)]
    assert first == again
    assert len(set(first)) == len(first)
    assert all(cid.startswith("cat/doc#") for cid in first)
    assert first[0] != edited[0]


def test_default_sizes_are_the_documented_ones() -> None:
    cfg = ChunkingConfig()
    assert (cfg.target_words, cfg.min_words, cfg.max_words, cfg.overlap_words) == (
        1000,
        800,
        1500,
        200,
    )


def test_contradictory_sizes_are_rejected_with_the_rule() -> None:
    with pytest.raises(ChunkingError, match="overlap < min <= target <= max"):
        ChunkingConfig(target_words=100, min_words=200, max_words=300, overlap_words=10)


def test_cjk_characters_count_as_words_so_limits_hold() -> None:
    text = "知识图谱" * 100  # 400 characters with no spaces
    chunks = chunk_document("d", text, SMALL)
    assert count_words(text) == 400
    assert all(c.word_count <= SMALL.max_words for c in chunks)
    assert len(chunks) >= 3


def test_a_100000_character_line_without_spaces_is_cut_within_max_chars() -> None:
    blob = "QUJD" * 25_000  # 100,000 characters of base64, no whitespace at all
    chunks = chunk_document("d", blob)
    assert all(len(c.text) <= ChunkingConfig().max_chars for c in chunks)
    assert chunks[0].text.startswith("QUJD") and chunks[-1].end_char == len(blob)
    covered = sorted({i for c in chunks for i in range(c.start_char, c.end_char)})
    assert covered == list(range(len(blob)))


def test_long_words_are_bounded_by_characters_as_well_as_words() -> None:
    text = " ".join(["supercalifragilisticexpialidocious" * 3] * 1400)  # 1,400 words, 144k chars
    chunks = chunk_document("d", text)
    assert len(chunks) > 1
    assert all(len(c.text) <= ChunkingConfig().max_chars for c in chunks)
