import json
from pathlib import Path

import pytest

from kg_pipeline.contract.vocabulary import (
    BASE_VOCABULARY,
    Vocabulary,
    VocabularyError,
    load_vocabulary,
    named_vocabulary,
    resolve_vocabulary,
)


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


@pytest.mark.parametrize(("name", "size"), [("base31", 31), ("kg60", 60), ("kg90", 90)])
def test_packaged_vocabularies_extend_the_base_types(name: str, size: int) -> None:
    vocab = named_vocabulary(name)
    assert len(vocab) == size
    assert set(BASE_VOCABULARY.types) <= set(vocab.types)
    # Every added type folds back onto exactly one base type.
    added = set(vocab.types) - set(BASE_VOCABULARY.types)
    assert set(vocab.refines) == added
    assert {vocab.to_base(t) for t in vocab.types} == set(BASE_VOCABULARY.types)


def test_the_90_type_vocabulary_contains_the_60_type_one() -> None:
    kg60, kg90 = named_vocabulary("kg60"), named_vocabulary("kg90")
    assert set(kg60.types) < set(kg90.types)
    assert all(kg90.refines[t] == kg60.refines[t] for t in kg60.refines)


def test_a_refinement_onto_a_non_base_type_is_rejected() -> None:
    with pytest.raises(VocabularyError, match="onto a base type"):
        Vocabulary(name="bad", categories={"c": ("A", "B")}, refines={"A": "B"})


def test_an_unknown_vocabulary_name_lists_the_known_ones() -> None:
    with pytest.raises(VocabularyError, match="kg60, kg90"):
        named_vocabulary("kg45")


def test_a_vocabulary_is_named_or_given_by_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(["LOCATED_IN"]))
    assert resolve_vocabulary(None) is BASE_VOCABULARY
    assert len(resolve_vocabulary("kg90")) == 90
    assert resolve_vocabulary(str(path)).types == ("LOCATED_IN",)
