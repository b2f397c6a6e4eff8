import pytest

from kg_pipeline.baseline import curated_baseline
from kg_pipeline.chunking import chunk_document
from kg_pipeline.documents import Document
from kg_pipeline.extraction import ChunkExtraction, ExtractionStatus
from kg_pipeline.providers import CallStats
from kg_pipeline.quality.concepts import PRF, match_concepts, merge_concepts, score_concepts
from kg_pipeline.quality.normalise import normalise_label
from kg_pipeline.quality.report import build_quality_report, render_markdown
from kg_pipeline.reference import Reference
from kg_pipeline.schema import Concept, Extraction


def concept(label: str, *terms: str, cid: str = "c") -> Concept:
    return Concept(concept_id=cid, label=label, description="", search_terms=list(terms))


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Exponential  Backoff", "exponential backoff"),
        ("Retry-After headers", "retry after header"),
        ("Idempotency keys!", "idempotency key"),
        ("ﬁle policies", "file policy"),  # NFKC ligature, -ies plural
        ("status", "status"),  # -us is not a plural
        ("boxes", "box"),
    ],
)
def test_labels_normalise_case_unicode_punctuation_space_and_plural(
    raw: str, normalised: str
) -> None:
    assert normalise_label(raw) == normalised


def test_a_concept_matches_on_a_search_term() -> None:
    assert match_concepts([concept("COX")], [concept("cyclooxygenase", "cox")]) == [(0, 0)]


def test_matching_is_one_to_one() -> None:
    # Two predictions of the same concept can account for only one reference concept.
    pred = [concept("oven"), concept("Ovens")]
    ref = [concept("oven"), concept("starter")]
    prf = score_concepts(pred, ref)
    assert prf == PRF(true_positives=1, predicted=2, reference=2)


def test_matching_finds_the_maximum_assignment_not_the_greedy_one() -> None:
    # pred0 matches ref0 and ref1; pred1 matches only ref0. Greedy pred0->ref0 would give 1;
    # the best assignment pred0->ref1, pred1->ref0 gives 2.
    pred = [concept("java", "jvm language"), concept("java island")]
    ref = [concept("java island", "java"), concept("jvm language")]
    assert len(match_concepts(pred, ref)) == 2


def test_precision_recall_f1_are_computed_by_hand() -> None:
    prf = PRF(true_positives=3, predicted=4, reference=6)
    # P = 3/4 = 0.75; R = 3/6 = 0.5; F1 = 2*0.75*0.5/1.25 = 0.6
    assert prf.precision == 0.75 and prf.recall == 0.5 and prf.f1 == pytest.approx(0.6)
    assert PRF(0, 0, 5).f1 == 0.0


def test_concepts_repeated_across_chunks_are_merged_by_label() -> None:
    merged = merge_concepts([concept("Oven"), concept("ovens"), concept("flour")])
    assert [c.label for c in merged] == ["Oven", "flour"]


def _record(document_id: str, status: ExtractionStatus, labels: list[str]) -> ChunkExtraction:
    chunk = chunk_document(document_id, " ".join(labels) or "x")[0]
    return ChunkExtraction(
        chunk_id=chunk.chunk_id,
        document_id=document_id,
        endpoint="ep",
        provider="ollama",
        model="m",
        vocabulary="base31",
        status=status,
        extraction=Extraction(concepts=[concept(label) for label in labels])
        if status is ExtractionStatus.VALID
        else None,
        stats=CallStats(wall_seconds=2.0, completion_tokens=100),
    )


def test_report_scores_documents_and_counts_failed_chunks_as_invalid() -> None:
    doc_a = Document(
        document_id="a/one",
        category="a",
        path="a/one.md",
        text="t",
        sha256="0",
        reference=Reference(concepts=[concept("oven"), concept("flour"), concept("starter")]),
    )
    doc_b = Document(document_id="b/two", category="b", path="b/two.md", text="t", sha256="1")
    records = [
        _record("a/one", ExtractionStatus.VALID, ["oven", "bread"]),
        _record("a/one", ExtractionStatus.MALFORMED, []),
        _record("b/two", ExtractionStatus.VALID, ["x"]),
    ]
    report = build_quality_report([doc_a, doc_b], records, curated_baseline([doc_a, doc_b]))
    # 2 of 3 chunks valid. a/one: predicted {oven, bread}, reference {oven, flour, starter}:
    # TP 1, P 1/2, R 1/3, F1 = 2*(1/2)(1/3)/(5/6) = 0.4. b/two has no reference: unscored.
    assert report.schema_valid_rate == pytest.approx(2 / 3)
    assert report.micro == PRF(1, 2, 3)
    assert report.micro.f1 == pytest.approx(0.4)
    assert report.unscored_documents == ["b/two"]
    assert report.status_counts == {"valid": 2, "malformed": 1}
    markdown = render_markdown(report)
    assert "| concept F1 (micro) | 0.400 |" in markdown
    assert "malformed 1" in markdown
    assert "Measured against: curated references (1 documents" in markdown


def test_report_without_records_says_what_to_materialize() -> None:
    with pytest.raises(ValueError, match="materialize `extractions`"):
        build_quality_report([], [], curated_baseline([]))
