import json
from pathlib import Path

import pytest

from kg_pipeline.contract.reference import check_reference
from kg_pipeline.contract.vocabulary import load_vocabulary, named_vocabulary
from kg_pipeline.corpus.documents import load_corpus
from kg_pipeline.corpus.importers.common import (
    GoldSetFormatError,
    relation_type_name,
    write_document,
    write_vocabulary,
)
from kg_pipeline.corpus.importers.redocred import detokenise, import_redocred
from kg_pipeline.corpus.importers.text2kgbench import entity_label, import_text2kgbench

DOCRED = [
    {
        "title": "Ada Lovelace",
        "sents": [
            ["Ada", "Lovelace", "(", "born", "1815", ")", "worked", "with", "Charles",
             "Babbage", "."],
            ["Lovelace", "wrote", "notes", "on", "the", "Analytical", "Engine", "."],
        ],
        "vertexSet": [
            [
                {"name": "Ada Lovelace", "pos": [0, 2], "sent_id": 0, "type": "PER"},
                {"name": "Lovelace", "pos": [0, 1], "sent_id": 1, "type": "PER"},
            ],
            [{"name": "1815", "pos": [4, 5], "sent_id": 0, "type": "TIME"}],
            [{"name": "Charles Babbage", "pos": [8, 10], "sent_id": 0, "type": "PER"}],
            [{"name": "Analytical Engine", "pos": [5, 7], "sent_id": 1, "type": "MISC"}],
        ],
        "labels": [
            {"h": 0, "t": 1, "r": "P569", "evidence": [0]},
            {"h": 0, "t": 2, "r": "P1327", "evidence": [0]},
            {"h": 0, "t": 2, "r": "P1327", "evidence": [0]},
        ],
    }
]  # fmt: skip
REL_INFO = {"P569": "date of birth", "P1327": "partner in business or sport"}


@pytest.fixture
def docred_files(tmp_path: Path) -> Path:
    (tmp_path / "dev.json").write_text(json.dumps(DOCRED))
    (tmp_path / "rel_info.json").write_text(json.dumps(REL_INFO))
    return tmp_path / "dev.json"


def test_detokenised_text_keeps_every_tokens_span() -> None:
    text, spans = detokenise([["Hello", ",", "world", "(", "x", ")", "."]])
    assert text == "Hello, world (x)."
    assert [text[a:b] for a, b in spans[0]] == ["Hello", ",", "world", "(", "x", ")", "."]


def test_redocred_entities_become_quoted_concepts_and_labels_typed_relationships(
    docred_files: Path,
) -> None:
    documents, vocabulary, summary = import_redocred(docred_files)
    doc = documents[0]
    ref = doc.reference
    assert doc.text.startswith("Ada Lovelace\n\nAda Lovelace (born 1815) worked with Charles")
    # Entity 0 is mentioned as "Ada Lovelace" and "Lovelace": one concept, both forms.
    assert ref.concepts[0].label in {"Ada Lovelace", "Lovelace"}
    assert {ref.concepts[0].label, *ref.concepts[0].search_terms} == {"Ada Lovelace", "Lovelace"}
    assert {i.quote for i in ref.instances if i.concept_id == "concept_001"} == {
        "Ada Lovelace",
        "Lovelace",
    }
    # The duplicated P1327 label is kept once.
    assert [
        (r.from_concept_id, r.to_concept_id, r.relationship_type) for r in ref.relationships
    ] == [
        ("concept_001", "concept_002", "DATE_OF_BIRTH"),
        ("concept_001", "concept_003", "PARTNER_IN_BUSINESS_OR_SPORT"),
    ]
    assert vocabulary.types == ("DATE_OF_BIRTH", "PARTNER_IN_BUSINESS_OR_SPORT")
    assert ref.provenance is not None and ref.provenance.source == "imported"
    assert check_reference(doc.text, ref, vocabulary) == []
    assert (summary.documents, summary.concepts, summary.relationships) == (1, 4, 2)


def test_redocred_without_relation_names_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "dev.json").write_text(json.dumps(DOCRED))
    with pytest.raises(GoldSetFormatError, match=r"rel_info\.json"):
        import_redocred(tmp_path / "dev.json")


def test_imported_corpus_is_written_loadable_and_rerunnable(
    docred_files: Path, tmp_path: Path
) -> None:
    documents, vocabulary, _ = import_redocred(docred_files)
    out = tmp_path / "corpus"
    for _ in range(2):  # a second import replaces, never duplicates
        for doc in documents:
            write_document(out, doc)
        write_vocabulary(out, vocabulary)
    docs, bad = load_corpus(out)
    assert bad == [] and [d.document_id for d in docs] == ["redocred/0000"]
    assert load_vocabulary(out / "vocabulary.json").types == vocabulary.types


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("Abilene,_Texas", "Abilene, Texas"),
        ("Airman_(comicsCharacter)", "Airman"),
        ('"Drake Stevens"', "Drake Stevens"),
        ("Harry_Sahle", "Harry Sahle"),
    ],
)
def test_dbpedia_ids_become_readable_labels(raw: str, label: str) -> None:
    assert entity_label(raw) == label


def test_relation_names_become_upper_snake_case_types() -> None:
    assert relation_type_name("alternativeName") == "ALTERNATIVE_NAME"
    assert relation_type_name("place of birth") == "PLACE_OF_BIRTH"


def test_text2kgbench_sentences_become_documents_in_their_ontology(tmp_path: Path) -> None:
    (tmp_path / "ontologies").mkdir()
    (tmp_path / "train").mkdir()
    ontology = {
        "title": "Comics",
        "concepts": [{"qid": "ComicsCharacter", "label": "ComicsCharacter"}],
        "relations": [
            {"pid": "creator", "label": "creator", "domain": "A", "range": "B"},
            {"pid": "alternativeName", "label": "alternativeName", "domain": "A", "range": "s"},
        ],
    }
    (tmp_path / "ontologies" / "10_comicscharacter_ontology.json").write_text(json.dumps(ontology))
    record = {
        "id": "ont_10_comicscharacter_train_1",
        "sent": "Airman, AKA Drake Stevens was created by Harry Sahle.",
        "triples": [
            {"sub": "Airman_(comicsCharacter)", "rel": "creator", "obj": "Harry_Sahle"},
            {"sub": "Airman_(comicsCharacter)", "rel": "alternativeName", "obj": '"Drake Stevens"'},
            {"sub": "Airman_(comicsCharacter)", "rel": "creator", "obj": "Harry_Sahle"},
        ],
    }
    (tmp_path / "train" / "ont_10_comicscharacter_train.jsonl").write_text(
        json.dumps(record) + "\n"
    )
    documents, vocabulary, summary = import_text2kgbench(tmp_path)
    doc = documents[0]
    assert doc.category == "comicscharacter"
    assert [c.label for c in doc.reference.concepts] == ["Airman", "Harry Sahle", "Drake Stevens"]
    assert [i.quote for i in doc.reference.instances] == ["Airman", "Harry Sahle", "Drake Stevens"]
    assert [r.relationship_type for r in doc.reference.relationships] == [
        "CREATOR",
        "ALTERNATIVE_NAME",
    ]
    assert vocabulary.types == ("CREATOR", "ALTERNATIVE_NAME")
    assert check_reference(doc.text, doc.reference, vocabulary) == []
    assert summary.relationships == 2


def test_text2kgbench_folder_without_ontologies_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(GoldSetFormatError, match="ontologies/"):
        import_text2kgbench(tmp_path)


def test_a_vocabulary_s_definitions_and_entity_types_survive_the_corpus_file(
    tmp_path: Path,
) -> None:
    vocabulary = named_vocabulary("redocred")
    loaded = load_vocabulary(write_vocabulary(tmp_path, vocabulary))
    assert loaded.definitions == vocabulary.definitions
    assert loaded.entity_types == vocabulary.entity_types


def test_text2kgbench_references_keep_the_gold_triples_as_written_and_their_ontology(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (data / "ontologies").mkdir(parents=True)
    (data / "train").mkdir()
    ontology = {
        "concepts": [{"qid": "Airport", "label": "Airport"}, {"qid": "City", "label": "City"}],
        "relations": [
            {"pid": "cityServed", "label": "cityServed", "domain": "Airport", "range": "City"},
            {"pid": "3rdRunway", "label": "3rd runway", "domain": "Airport", "range": "s"},
        ],
    }
    (data / "ontologies" / "3_airport_ontology.json").write_text(json.dumps(ontology))
    triples = [
        {"sub": "Abilene_Regional_Airport", "rel": "cityServed", "obj": "Abilene,_Texas"},
        {"sub": "Abilene_Regional_Airport", "rel": "cityServed", "obj": "Abilene,_Texas"},
    ]
    sentence = "Abilene Regional Airport serves Abilene, Texas."
    record = {"id": "ont_3_airport_train_1", "sent": sentence, "triples": triples}
    (data / "train" / "ont_3_airport_train.jsonl").write_text(json.dumps(record) + "\n")
    [doc], _, _ = import_text2kgbench(data, split="train")
    out = tmp_path / "corpus"
    write_document(out, doc)
    [loaded], bad = load_corpus(out)
    assert bad == [] and loaded.reference is not None
    # Ids as the file writes them, the repeated triple too: the metrics read the raw form.
    assert [t.model_dump() for t in loaded.reference.gold_triples or []] == triples
    assert loaded.reference.ontology is not None
    assert loaded.reference.ontology.model_dump() == {
        "name": "airport",
        "relations": ["cityServed", "3rd runway"],
        "concepts": ["Airport", "City"],
    }
    # The readable reference beside it is unchanged: one relationship, readable labels.
    assert [c.label for c in loaded.reference.concepts] == [
        "Abilene Regional Airport",
        "Abilene, Texas",
    ]
    assert len(loaded.reference.relationships) == 1
