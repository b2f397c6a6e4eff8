"""The committed test corpus: 100 documents, each with a sound, curated reference."""

import statistics
from collections import Counter
from pathlib import Path

import pytest

from kg_pipeline.contract.reference import check_reference
from kg_pipeline.contract.vocabulary import named_vocabulary
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import Document, load_corpus

CORPUS = Path(__file__).resolve().parents[2] / "test_corpus"
EXPECTED_COUNTS = {
    "technical": 30,
    "academic": 30,
    "conversational": 20,
    "structured": 10,
    "edge_cases": 10,
}


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    docs, bad = load_corpus(CORPUS)
    assert bad == [], [str(b) for b in bad]
    return docs


def test_corpus_has_the_planned_documents_per_category(corpus: list[Document]) -> None:
    assert Counter(d.category for d in corpus) == EXPECTED_COUNTS


def test_every_document_has_a_sound_curated_reference(corpus: list[Document]) -> None:
    problems = {}
    for doc in corpus:
        if doc.reference is None:
            problems[doc.document_id] = ["no reference"]
            continue
        found = check_reference(doc.text, doc.reference)
        if doc.reference.provenance and doc.reference.provenance.source != "curated":
            found.append("provenance source is not 'curated'")
        if found:
            problems[doc.document_id] = found
    assert problems == {}


def test_finer_types_refine_the_base_type_of_each_relationship(corpus: list[Document]) -> None:
    kg60, kg90 = named_vocabulary("kg60"), named_vocabulary("kg90")
    wrong = []
    for doc in corpus:
        assert doc.reference is not None
        for rel in doc.reference.relationships:
            t60, t90 = rel.type_60, rel.type_90
            # A finer type (or the base type itself, when no finer one fits) that folds back
            # onto the relationship's base type, at both vocabulary sizes.
            ok = (
                t60 in kg60
                and t90 in kg90
                and kg60.to_base(t60) == rel.relationship_type
                and kg90.to_base(t90) == rel.relationship_type
            )
            if not ok:
                wrong.append(f"{doc.document_id}: {rel.relationship_type} -> {t60} / {t90}")
    assert wrong == []


def test_lengths_vary_from_a_sentence_to_multi_chunk_documents(corpus: list[Document]) -> None:
    words = [len(d.text.split()) for d in corpus]
    assert min(words) <= 30
    assert max(words) >= 1600
    multi_chunk = [d for d in corpus if len(chunk_document(d.document_id, d.text)) > 1]
    assert len(multi_chunk) >= 4
    assert statistics.median(words) >= 100
