import os
import re
from pathlib import Path

import pytest

from kg_pipeline.corpus.documents import load_corpus, read_document, sample_per_category

REFERENCE = (
    '{"concepts": [{"concept_id": "concept_001", "label": "tide", "description": "Sea level '
    'change.", "search_terms": []}], "instances": [], "relationships": []}'
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "science").mkdir()
    (tmp_path / "science" / "tides.md").write_text("The moon raises tides.", encoding="utf-8")
    (tmp_path / "science" / "tides.reference.json").write_text(REFERENCE, encoding="utf-8")
    (tmp_path / "science" / "notes.txt").write_text("Café au lait — 咖啡.", encoding="utf-8")
    return tmp_path


def test_documents_are_read_with_category_id_and_reference(corpus: Path) -> None:
    docs, bad = load_corpus(corpus)
    assert bad == []
    by_id = {d.document_id: d for d in docs}
    assert set(by_id) == {"science/tides", "science/notes"}
    assert by_id["science/tides"].category == "science"
    assert by_id["science/tides"].reference is not None
    assert by_id["science/tides"].reference.concepts[0].label == "tide"
    assert by_id["science/notes"].reference is None
    assert by_id["science/notes"].text == "Café au lait — 咖啡."


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"  \n\t\n", "empty document"),
        ("latin1.md", "Caf\u00e9".encode("latin-1"), "not valid UTF-8 .*0xe9"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary content"),
    ],
)
def test_a_bad_document_is_named_with_its_reason_and_the_rest_still_load(
    corpus: Path, name: str, content: bytes, reason: str
) -> None:
    (corpus / "science" / name).write_bytes(content)
    docs, bad = load_corpus(corpus)
    assert len(docs) == 2
    assert [b.path for b in bad] == [f"science/{name}"]

    assert re.search(reason, bad[0].reason)


def test_a_document_over_the_size_limit_is_rejected_without_reading_it(corpus: Path) -> None:
    (corpus / "science" / "huge.md").write_text("word " * 1000, encoding="utf-8")
    docs, bad = load_corpus(corpus, max_bytes=1000)
    assert [b.path for b in bad] == ["science/huge.md"]
    assert "exceeds the 1,000-byte limit" in bad[0].reason
    assert len(docs) == 2


def test_an_invalid_reference_is_reported_against_its_document(corpus: Path) -> None:
    (corpus / "science" / "tides.reference.json").write_text('{"concepts": [{}]}')
    _, bad = load_corpus(corpus)
    assert [b.path for b in bad] == ["science/tides.md"]
    assert "tides.reference.json" in bad[0].reason


def test_a_missing_corpus_folder_says_which_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_corpus(tmp_path / "nowhere")


def test_files_at_the_corpus_root_describe_the_corpus_and_are_not_documents(
    corpus: Path,
) -> None:
    (corpus / "GUIDELINE.md").write_text("# How to annotate", encoding="utf-8")
    docs, bad = load_corpus(corpus)
    assert {d.document_id for d in docs} == {"science/tides", "science/notes"}
    assert bad == []


def test_a_sample_keeps_the_shortest_documents_of_every_category(corpus: Path) -> None:
    (corpus / "history").mkdir()
    (corpus / "history" / "long.md").write_text("word " * 50, encoding="utf-8")
    (corpus / "history" / "short.md").write_text("Rome fell.", encoding="utf-8")
    docs, _ = load_corpus(corpus)
    sample = sample_per_category(docs, 1)
    # science: "Café au lait — 咖啡." (18 characters) is shorter than "The moon raises tides." (22).
    assert [d.document_id for d in sample] == ["history/short", "science/notes"]


def test_a_50_megabyte_file_is_rejected_by_its_size_without_being_read(corpus: Path) -> None:
    huge = corpus / "science" / "dump.txt"
    with huge.open("wb") as handle:  # sparse: 50 MB on paper, nothing on disk
        handle.truncate(50 * 1024 * 1024)
    docs, bad = load_corpus(corpus)
    assert [b.path for b in bad] == ["science/dump.txt"]
    assert "52,428,800 bytes exceeds the 5,242,880-byte limit" in bad[0].reason
    assert len(docs) == 2


def test_a_single_100000_character_line_is_read_as_a_document(corpus: Path) -> None:
    (corpus / "science" / "oneline.md").write_text("tide " * 20_000, encoding="utf-8")
    docs, bad = load_corpus(corpus)
    assert bad == [] and any(len(d.text) == 100_000 for d in docs)


def test_a_link_to_a_file_outside_the_corpus_is_skipped_with_its_reason(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = tmp_path_factory.mktemp("elsewhere") / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (corpus / "science" / "passwd.md").symlink_to(secret)
    docs, bad = load_corpus(corpus)
    assert {d.document_id for d in docs} == {"science/tides", "science/notes"}
    assert [b.path for b in bad] == ["science/passwd.md"]
    assert "outside the corpus folder" in bad[0].reason and str(secret) in bad[0].reason
    assert all("root:x:0:0" not in d.text for d in docs)


def test_a_category_folder_linked_from_elsewhere_is_not_walked_into(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "private.md").write_text("Not part of the corpus.", encoding="utf-8")
    (corpus / "linked").symlink_to(outside, target_is_directory=True)
    docs, bad = load_corpus(corpus)
    assert "linked/private" not in {d.document_id for d in docs}
    assert [b.path for b in bad] == ["linked/private.md"]
    assert "outside the corpus folder" in bad[0].reason


def test_a_link_to_a_document_inside_the_corpus_is_read(corpus: Path) -> None:
    (corpus / "science" / "alias.md").symlink_to(corpus / "science" / "tides.md")
    docs, bad = load_corpus(corpus)
    assert bad == []
    assert {d.document_id: d.text for d in docs}["science/alias"] == "The moon raises tides."


def test_a_reference_linked_from_outside_the_corpus_is_not_read(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "shadow.json"
    elsewhere.write_text("root:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    (corpus / "science" / "notes.reference.json").symlink_to(elsewhere)
    _, bad = load_corpus(corpus)
    assert [b.path for b in bad] == ["science/notes.txt"]
    assert "reference notes.reference.json is a link to" in bad[0].reason
    assert "root:x" not in bad[0].reason


def test_a_dangling_link_and_a_pipe_are_skipped_with_their_reasons(corpus: Path) -> None:
    (corpus / "science" / "gone.md").symlink_to(corpus / "science" / "deleted.md")
    os.mkfifo(corpus / "science" / "pipe.md")
    docs, bad = load_corpus(corpus)  # returns: the pipe is never opened
    assert len(docs) == 2
    reasons = {b.path: b.reason for b in bad}
    assert "leads nowhere" in reasons["science/gone.md"]
    assert "not a regular file" in reasons["science/pipe.md"]


def test_a_file_named_explicitly_is_read_even_through_a_link(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # `kg ingest FILE` reads what the user names; only a folder walk is confined.
    target = tmp_path_factory.mktemp("real") / "note.md"
    target.write_text("Locks raise boats.", encoding="utf-8")
    link = tmp_path_factory.mktemp("links") / "note.md"
    link.symlink_to(target)
    assert read_document(link, link.parent).text == "Locks raise boats."


@pytest.mark.parametrize(
    ("encoding", "named"),
    [("utf-16", "UTF-16 text (byte order mark)"), ("utf-16-le", "UTF-16 text without a byte")],
)
def test_a_utf16_document_is_named_as_utf16_with_the_command_that_converts_it(
    corpus: Path, encoding: str, named: str
) -> None:
    (corpus / "science" / "windows notes.txt").write_bytes("Tides rise.".encode(encoding))
    _, bad = load_corpus(corpus)
    assert [b.path for b in bad] == ["science/windows notes.txt"]
    assert named in bad[0].reason and "binary" not in bad[0].reason
    assert "`iconv -f UTF-16 -t UTF-8 'windows notes.txt' > 'windows notes.utf8.txt'`" in (
        bad[0].reason
    )


def test_bytes_that_open_like_a_utf16_mark_but_do_not_decode_are_binary(corpus: Path) -> None:
    # 0xFF 0xFE then seven bytes: an odd length, so no UTF-16 text.
    (corpus / "science" / "blob.md").write_bytes(b"\xff\xfe\x00binary")
    _, bad = load_corpus(corpus)
    assert [b.path for b in bad] == ["science/blob.md"]
    assert bad[0].reason.startswith("binary content")
