from pathlib import Path

import pytest

from kg_pipeline.contract.normalise import normalise_label
from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.corpus.analysis import analyse
from kg_pipeline.corpus.chunking import Chunk, chunk_document
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import curated_baseline
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.routing import RoutingDecision
from kg_pipeline.providers import CallStats
from kg_pipeline.quality.concepts import (
    PRF,
    MatchLevel,
    match_concepts,
    merge_concepts,
    score_concepts,
)
from kg_pipeline.quality.report import bootstrap_f1_interval, build_quality_report
from kg_pipeline.quality.report_markdown import render_markdown


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


def _record(
    chunk: Chunk, status: ExtractionStatus, extraction: Extraction | None, **stats: object
) -> ChunkExtraction:
    return ChunkExtraction(
        chunk_id=chunk.chunk_id,
        document_id=chunk.document_id,
        endpoint="ep",
        provider="ollama",
        model="m",
        vocabulary="base31",
        status=status,
        extraction=extraction,
        stats=CallStats(wall_seconds=2.0, completion_tokens=100, **stats),
    )


def test_report_scores_concepts_relationships_quotes_and_validity_by_hand() -> None:
    text_a = "The oven bakes bread. Flour feeds the starter."
    ref_a = Reference(
        concepts=[concept("oven", cid="r1"), concept("flour", cid="r2"), concept("starter", cid="r3")],
        relationships=[
            ReferenceRelationship(from_concept_id="r2", to_concept_id="r3", relationship_type="ENABLES", confidence=1),
        ],
    )  # fmt: skip
    doc_a = Document(
        document_id="a/one", category="a", path="a/one.md", text=text_a, sha256="0", reference=ref_a
    )
    doc_b = Document(document_id="b/two", category="b", path="b/two.md", text="Tea.", sha256="1")
    chunk_a = chunk_document("a/one", text_a)[0]
    chunk_b = chunk_document("b/two", "Tea.")[0]
    good = Extraction(
        concepts=[concept("Ovens", cid="c1"), concept("bread", cid="c2"), concept("flour", cid="c3"), concept("starter", cid="c4")],
        instances=[Instance(concept_id="c1", quote="The oven"), Instance(concept_id="c2", quote="fresh bread")],
        relationships=[
            Relationship(from_concept_id="c3", to_concept_id="c4", relationship_type="ENABLES", confidence=0.9),
            Relationship(from_concept_id="c1", to_concept_id="c2", relationship_type="PRODUCES", confidence=0.8),
        ],
    )  # fmt: skip
    records = [
        _record(chunk_a, ExtractionStatus.VALID, good, repairs=["code_fence"]),
        _record(chunk_a, ExtractionStatus.MALFORMED, None, parse_failure="schema"),
        _record(chunk_b, ExtractionStatus.TRUNCATED, None),
    ]
    docs = [doc_a, doc_b]
    report = build_quality_report(
        docs, [chunk_a, chunk_b], records, curated_baseline(docs), BASE_VOCABULARY
    )
    # Validity over 3 chunks: 1 schema-valid (and repaired), parsed 2 (valid + schema mismatch),
    # 1 truncated, 2 failed.
    v = report.validity
    assert (v.chunks, v.schema_valid, v.parsed, v.repaired, v.truncated, v.failed) == (
        3,
        1,
        2,
        1,
        1,
        2,
    )
    # a/one: candidate {oven, bread, flour, starter} vs reference {oven, flour, starter}: TP 3,
    # P 3/4, R 3/3, F1 = 2*0.75*1/1.75 = 0.857.
    assert report.micro(MatchLevel.EXACT) == PRF(3, 4, 3)
    assert report.micro(MatchLevel.EXACT).f1 == pytest.approx(6 / 7)
    # Relationships: flour->starter ENABLES matches; oven->bread has no reference: P 1/2, R 1/1.
    assert report.relationships().prf == PRF(1, 2, 1)
    assert report.relationships().type_accuracy == 1.0
    # Pairs: (flour, starter) is a reference pair, (oven, bread) is not: P 1/2, R 1/1.
    assert report.pairs() == PRF(1, 2, 1)
    # Quotes: "The oven" verbatim, "fresh bread" nowhere: precision 0.5, error rate 0.5.
    assert (report.quotes.precision, report.quotes.error_rate) == (0.5, 0.5)
    # Hallucination: flour and starter have no instance (2 of 4 concepts).
    assert report.hallucinations.unsupported_concepts == 2
    assert report.unscored_documents == ["b/two"]
    low, high = report.f1_interval[MatchLevel.EXACT]
    assert low <= report.micro().f1 <= high
    markdown = render_markdown(report)
    assert "| concept P / R / F1 (exact, micro) | 0.750 / 1.000 / 0.857" in markdown
    assert "| parsed / repaired / truncated / failed (of 3 answered) | 2 / 1 / 1 / 2 |" in markdown
    assert "| entity-pair P / R / F1 (any type) | 0.500 / 1.000 / 0.667 |" in markdown
    assert "Measured against: curated references (1 documents" in markdown


def test_bootstrap_interval_of_identical_documents_is_a_point() -> None:
    # Every resample of three identical documents has F1 = 2*2/(4+4) = 0.5.
    assert bootstrap_f1_interval([PRF(2, 4, 4)] * 3) == (0.5, 0.5)


def test_report_without_records_says_what_to_materialize() -> None:
    with pytest.raises(ValueError, match="materialize `extractions`"):
        build_quality_report([], [], [], curated_baseline([]), BASE_VOCABULARY)


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    from kg_pipeline.quality.plots import plot_f1_by_category, plot_reliability

    text = "Flour feeds the starter."
    ref = Reference(concepts=[concept("flour", cid="r1")])
    doc = Document(
        document_id="a/x", category="a", path="a/x.md", text=text, sha256="0", reference=ref
    )
    chunk = chunk_document("a/x", text)[0]
    extraction = Extraction(
        concepts=[concept("flour", cid="c1"), concept("starter", cid="c2")],
        relationships=[Relationship(from_concept_id="c1", to_concept_id="c2", relationship_type="ENABLES", confidence=0.7)],
    )  # fmt: skip
    report = build_quality_report(
        [doc], [chunk], [_record(chunk, ExtractionStatus.VALID, extraction)], curated_baseline([doc]), BASE_VOCABULARY
    )  # fmt: skip
    for plot, name in ((plot_reliability, "cal.png"), (plot_f1_by_category, "f1.png")):
        path = plot(report, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_routed_run_reports_each_models_share_beside_the_whole() -> None:
    texts = {"a/x": "The oven bakes bread.", "a/y": "Flour feeds the starter."}
    refs = {
        "a/x": Reference(concepts=[concept("oven", cid="r1"), concept("bread", cid="r2")]),
        "a/y": Reference(concepts=[concept("flour", cid="r1"), concept("starter", cid="r2")]),
    }
    docs = [Document(document_id=d, category="a", path=f"{d}.md", text=t, sha256=d,
                     reference=refs[d]) for d, t in texts.items()]  # fmt: skip
    chunks = [chunk_document(d, t)[0] for d, t in texts.items()]
    analysis = analyse(texts["a/x"])
    x = _record(chunks[0], ExtractionStatus.VALID, Extraction(concepts=[concept("oven", cid="c1")]))
    y = _record(chunks[1], ExtractionStatus.VALID, Extraction(concepts=[concept("flour", cid="c1"), concept("starter", cid="c2")]))  # fmt: skip
    x = x.model_copy(update={"model": "fast-7b", "routing": RoutingDecision(
        rule_name="simple-to-fast", target_provider="ollama", target_model="fast-7b",
        registered_name="fast", analysis=analysis)})  # fmt: skip
    y = y.model_copy(update={"model": "big-14b", "routing": RoutingDecision(
        rule_name=None, target_provider="ollama", target_model="big-14b",
        registered_name="big", analysis=analysis)})  # fmt: skip
    report = build_quality_report(docs, chunks, [x, y], curated_baseline(docs), BASE_VOCABULARY)
    assert report.routed and report.routing_rules == {"simple-to-fast": 1, "default": 1}
    # fast-7b: a/x, 1 of 1 predicted right, 1 of 2 reference: P 1, R 0.5. big-14b: a/y, 2/2/2.
    assert report.by_model() == {"big-14b": PRF(2, 2, 2), "fast-7b": PRF(1, 1, 2)}
    markdown = render_markdown(report)
    assert "Routed run: chunks per rule — default 1, simple-to-fast 1." in markdown
    assert "| fast-7b | 1 | 1.000 / 0.500 / 0.667 |" in markdown
