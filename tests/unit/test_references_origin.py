"""The curated baseline says where its references came from: the report prints it after
"Measured against", and imported gold is not the project's hand-curated references."""

import datetime as dt
from typing import Literal

from kg_pipeline.contract.reference import Provenance, Reference
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import curated_baseline

REDOCRED = "Re-DocRED dev (Tan et al., 2022; MIT)"


def doc(stem: str, source: Literal["curated", "imported"] | None, annotator: str = "") -> Document:
    provenance = (
        Provenance(source=source, annotator=annotator or "me", date=dt.date(2025, 1, 1),
                   guideline_version="1.0")
        if source
        else None
    )  # fmt: skip
    return Document(
        document_id=f"notes/{stem}",
        category="notes",
        path=f"notes/{stem}.md",
        text="A text.",
        sha256="0",
        reference=Reference(provenance=provenance),
    )


def test_imported_references_name_their_data_set_not_the_project_guideline() -> None:
    baseline = curated_baseline([doc("a", "imported", REDOCRED), doc("b", "imported", REDOCRED)])
    assert baseline.description == f"2 references imported from {REDOCRED}"
    assert "GUIDELINE" not in baseline.description


def test_hand_curated_references_keep_naming_the_guideline() -> None:
    # A reference without provenance counts as curated, as it always did.
    baseline = curated_baseline([doc("a", "curated"), doc("b", None), doc("c", "curated")])
    assert baseline.description == "curated references (3 documents, test_corpus/GUIDELINE.md)"


def test_a_mixed_corpus_names_each_origin_with_its_count() -> None:
    documents = [doc("a", "curated"), doc("b", "imported", REDOCRED), doc("c", "imported", "X")]
    assert curated_baseline(documents).description == (
        "curated references (1 documents, test_corpus/GUIDELINE.md); "
        f"1 references imported from {REDOCRED}; 1 references imported from X"
    )
