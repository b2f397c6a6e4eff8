"""What a benchmark run imports: the data set found under the datasets folder or given, the
seeded sample (the same documents for the same size and seed, the side script's draw), the
split of a Text2KGBench folder, and the benchmark folder's name. Data sets are small fixtures
written here, never the shared ones."""

import json
import random
from pathlib import Path

import pytest

from kg_pipeline.corpus.importers.gold_sets import (
    GOLD_SETS,
    DataSetNotFound,
    bench_folder_name,
    datasets_roots,
    locate_data,
    seeded_sample,
)
from tests.docred_documents import docred_document

REDOCRED = GOLD_SETS["redocred"]
TEXT2KGBENCH = GOLD_SETS["text2kgbench"]


def write_redocred(root: Path, documents: int = 12) -> Path:
    folder = root / "redocred"
    folder.mkdir(parents=True)
    data = folder / "dev_revised.json"
    data.write_text(json.dumps([docred_document(n) for n in range(documents)]), encoding="utf-8")
    (folder / "rel_info.json").write_text(json.dumps({"P19": "place of birth"}), encoding="utf-8")
    return data


def test_the_same_size_and_seed_draw_the_same_documents_as_the_side_script() -> None:
    documents = [f"doc{n}" for n in range(500)]
    first = seeded_sample(documents, 50, seed=0)
    assert first == seeded_sample(documents, 50, seed=0)
    # benchmarks/redocred_quality.py draws random.Random(seed).sample(all, size).
    assert first == random.Random(0).sample(documents, 50)
    assert first != seeded_sample(documents, 50, seed=1)
    assert seeded_sample(documents, 600, seed=0) == documents


def test_a_data_set_under_the_datasets_folder_is_found_and_sampled_alike_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_redocred(tmp_path / "datasets")
    monkeypatch.setenv("KG_DATASETS_DIR", str(tmp_path / "datasets"))
    assert locate_data(REDOCRED, "dev", None) == data

    def sample_stems() -> list[str]:
        documents, vocabulary, _ = REDOCRED.load(data, "dev", None)
        assert "PLACE_OF_BIRTH" in vocabulary.types
        return [doc.stem for doc in seeded_sample(documents, 5, seed=3)]

    stems = sample_stems()
    assert len(stems) == 5 and len(set(stems)) == 5
    assert sample_stems() == stems


def test_the_datasets_folder_setting_is_the_one_place_looked_in_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KG_DATASETS_DIR", str(tmp_path / "mine"))
    assert datasets_roots() == [tmp_path / "mine"]
    monkeypatch.delenv("KG_DATASETS_DIR")
    monkeypatch.chdir(tmp_path)
    assert datasets_roots()[0] == tmp_path / ".." / "shared" / "datasets"


def test_a_missing_data_set_names_where_it_looked_and_the_data_option(tmp_path: Path) -> None:
    with pytest.raises(DataSetNotFound) as missing:
        locate_data(REDOCRED, "dev", None, roots=[tmp_path / "nothing"])
    message = str(missing.value)
    assert str(tmp_path / "nothing" / "redocred" / "dev_revised.json") in message
    assert "pass --data PATH" in message and "KG_DATASETS_DIR" in message
    with pytest.raises(DataSetNotFound, match=r"--data nope\.json: no such file"):
        locate_data(REDOCRED, "dev", Path("nope.json"))


def test_a_text2kgbench_split_reads_that_split_s_sentences_only(tmp_path: Path) -> None:
    (tmp_path / "ontologies").mkdir()
    ontology = {"relations": [{"label": "capital"}]}
    (tmp_path / "ontologies" / "1_city_ontology.json").write_text(json.dumps(ontology))
    for split, sentence in (("train", "Paris is the capital of France."), ("test", "Rome.")):
        (tmp_path / split).mkdir()
        triple = {"sub": "France", "rel": "capital", "obj": "Paris"}
        line = json.dumps({"id": f"{split}_1", "sent": sentence, "triples": [triple]})
        (tmp_path / split / f"ont_1_city_{split}.jsonl").write_text(line + "\n")
    documents, vocabulary, _ = TEXT2KGBENCH.load(tmp_path, "train", None)
    assert [doc.stem for doc in documents] == ["train_1"]
    assert vocabulary.types == ("CAPITAL",)
    documents, _, _ = TEXT2KGBENCH.load(tmp_path, "test", ["city"])
    assert [doc.stem for doc in documents] == ["test_1"]


def test_the_benchmark_folder_is_named_after_what_decides_its_documents() -> None:
    assert bench_folder_name(REDOCRED, "dev", 50, 0) == "redocred-dev-n50-seed0"
    assert (
        bench_folder_name(TEXT2KGBENCH, "train", 20, 1, ("university", "airport"))
        == "text2kgbench-airport-university-train-n20-seed1"
    )
