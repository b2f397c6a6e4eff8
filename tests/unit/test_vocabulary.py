import json
from pathlib import Path

import pytest

from kg_pipeline.vocabulary import BASE_VOCABULARY, Vocabulary, VocabularyError, load_vocabulary


def test_base_vocabulary_has_31_types_in_8_categories() -> None:
    assert len(BASE_VOCABULARY) == 31
    assert len(BASE_VOCABULARY.categories) == 8
    assert BASE_VOCABULARY.category_of("CAUSES") == "causal"
    assert BASE_VOCABULARY.category_of("CATEGORIZED_AS") == "meta"
    assert "LIKES" not in BASE_VOCABULARY


def test_custom_vocabulary_loads_from_a_categorised_file(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"name": "geo", "categories": {"place": ["located_in", "BORDERS"]}}))
    vocab = load_vocabulary(path)
    assert vocab.name == "geo"
    assert vocab.types == ("LOCATED_IN", "BORDERS")


def test_a_flat_list_file_is_one_custom_category(tmp_path: Path) -> None:
    path = tmp_path / "flat60.json"
    path.write_text(json.dumps(["A", "B", "C"]))
    vocab = load_vocabulary(path)
    assert vocab.name == "flat60" and vocab.categories == {"custom": ("A", "B", "C")}


def test_duplicate_types_are_rejected() -> None:
    with pytest.raises(VocabularyError, match="CAUSES listed twice"):
        Vocabulary(name="dup", categories={"a": ("CAUSES",), "b": ("CAUSES",)})


def test_an_unreadable_vocabulary_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(VocabularyError, match=r"broken\.json"):
        load_vocabulary(path)
