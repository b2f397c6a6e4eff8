"""The report's rates with what they stand on: a count beside every rate, null (and "n/a (n = 0)")
for a rate over nothing, a seeded bootstrap interval over documents, calibration only where the
prompt asked for confidences, and the model's own quotes judged beside the grounded output's.
Records are built here; every figure is worked out beside it."""

import json

import pytest

from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.corpus.chunking import Chunk, chunk_document
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import curated_baseline
from kg_pipeline.extraction.grounding import ground_extraction
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.quality.calibration import (
    NOT_ASKED,
    calibration_estimate,
    expected_calibration_error,
)
from kg_pipeline.quality.comparison import compare_models, render_comparison
from kg_pipeline.quality.estimates import Estimate, ratio_estimate
from kg_pipeline.quality.figures import NOT_RECORDED
from kg_pipeline.quality.headline import summary_metrics
from kg_pipeline.quality.report import QualityReport, build_quality_report
from kg_pipeline.quality.report_markdown import render_markdown

V1, V6 = "kg-extract-v1", "kg-extract-v6"  # v1 asks for a confidence, v6 does not
TEXT = "The oven bakes bread. Flour feeds the starter."
CHUNK = chunk_document("a/one", TEXT)[0]


def concept(label: str, cid: str) -> Concept:
    return Concept(concept_id=cid, label=label, description="")


DOC = Document(
    document_id="a/one", category="a", path="a/one.md", text=TEXT, sha256="0",
    reference=Reference(
        concepts=[concept("oven", "r1"), concept("flour", "r2"), concept("starter", "r3")],
        relationships=[ReferenceRelationship(
            from_concept_id="r2", to_concept_id="r3", relationship_type="ENABLES", confidence=1,
        )],
    ),
)  # fmt: skip

# "The oven" is verbatim; "flour" is there only after case folding ("Flour"); "sourdough
# starter" is nowhere: verbatim 1/3, normalised 2/3, error rate 1/3.
ANSWER = Extraction(
    concepts=[concept("oven", "c1"), concept("flour", "c2"), concept("starter", "c3")],
    instances=[
        Instance(concept_id="c1", quote="The oven"),
        Instance(concept_id="c2", quote="flour"),
        Instance(concept_id="c3", quote="sourdough starter"),
    ],
    relationships=[Relationship(
        from_concept_id="c2", to_concept_id="c3", relationship_type="ENABLES", confidence=0.9,
    )],
)  # fmt: skip


def record(
    extraction: Extraction,
    *,
    version: str = V6,
    grounded: bool = True,
    keep_answer: bool = True,
    chunk: Chunk = CHUNK,
) -> ChunkExtraction:
    fields: dict[str, object] = {"extraction": extraction}
    if grounded:
        result = ground_extraction(extraction, chunk.text)
        fields = {"extraction": result.extraction, "grounding": result.summary}
        if keep_answer:
            fields["model_answer"] = extraction
    return ChunkExtraction(
        chunk_id=chunk.chunk_id, document_id=chunk.document_id, endpoint="ep", provider="vllm",
        model="m", vocabulary="base31", prompt_version=version, status=ExtractionStatus.VALID,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def report_of(*records: ChunkExtraction, docs: list[Document] | None = None) -> QualityReport:
    docs = docs or [DOC]
    chunks = [chunk_document(d.document_id, d.text)[0] for d in docs]
    return build_quality_report(
        docs, chunks, list(records), curated_baseline(docs), BASE_VOCABULARY
    )


def test_the_models_own_quotes_are_judged_beside_the_grounded_output() -> None:
    report = report_of(record(ANSWER))
    figures = report.figures
    # The model's: 1 of 3 verbatim, 2 of 3 after normalising, 1 of 3 in neither form.
    assert figures["model_quote_precision"].value == pytest.approx(1 / 3)
    assert figures["model_quote_normalised_precision"].value == pytest.approx(2 / 3)
    assert figures["model_quote_error_rate"].value == pytest.approx(1 / 3)
    assert figures["model_quote_precision"].n == 3
    # The output: "flour" became the text's "Flour", "sourdough starter" was dropped: 2 of 2.
    assert (figures["quote_precision"].value, figures["quote_precision"].n) == (1.0, 2)
    assert figures["quote_error_rate"].value == 0.0
    assert figures["model_quotes_not_in_chunk_rate"].value == pytest.approx(1 / 3)
    assert figures["quotes_not_in_chunk_rate"].value == 0.0
    # Grounding's effect: 1 kept as written, 1 replaced by the span, 1 dropped.
    g = report.grounding
    assert (g.chunks, g.quotes, g.kept, g.replaced, g.dropped, g.duplicates) == (1, 3, 1, 1, 1, 0)
    markdown = render_markdown(report)
    assert (
        "| quotes verbatim in the chunk | 0.333 (n = 3, 95 % CI 0.333 to 0.333) | 1.000 (n = 2"
        in markdown
    )
    assert (
        "of the model's 3 quotes, 1 kept as written, 1 replaced by the exact span, 1 dropped"
        in markdown
    )
    metrics = summary_metrics(report)
    assert (metrics["model_quote_error_rate_n"], metrics["quote_error_rate_n"]) == (3, 2)


def test_an_ungrounded_answer_is_the_models_own_and_judged_once_for_both() -> None:
    figures = report_of(record(ANSWER, grounded=False)).figures
    for name in ("quote_precision", "quote_normalised_precision", "quote_error_rate"):
        assert figures[f"model_{name}"] == figures[name]
    assert figures["quote_precision"].value == pytest.approx(1 / 3)


def test_a_grounded_record_from_before_the_answer_was_kept_gives_no_model_figure() -> None:
    old = record(ANSWER, keep_answer=False)
    # A record file line written before model_answer existed still loads.
    line = old.model_dump_json(exclude={"model_answer"})
    assert "model_answer" not in line
    back = ChunkExtraction.model_validate_json(line)
    report = report_of(back)
    figure = report.figures["model_quote_precision"]
    assert (figure.value, figure.n, figure.reason) == (None, 0, NOT_RECORDED)
    assert (
        f"| quotes verbatim in the chunk | n/a ({NOT_RECORDED}) | 1.000 (n = 2"
        in render_markdown(report)
    )
    assert summary_metrics(report)["model_quote_error_rate"] is None


def test_a_rate_over_nothing_is_null_beside_its_count_never_zero() -> None:
    # No relationship in the answer: nothing endpoint-matched, no type accuracy to state.
    report = report_of(record(ANSWER.model_copy(update={"relationships": []}), version=V1))
    accuracy = report.figures["relationship_type_accuracy"]
    assert (accuracy.value, accuracy.n, accuracy.interval) == (None, 0, None)
    assert accuracy.describe() == "n/a (n = 0)"
    dumped = json.loads(report.model_dump_json())["figures"]
    assert dumped["relationship_type_accuracy"] == {
        "value": None,
        "n": 0,
        "interval": None,
        "reason": None,
    }
    # v1 asks for confidences, but none was stated: ECE over nothing is n/a too.
    assert dumped["calibration_error"]["value"] is None and dumped["calibration_error"]["n"] == 0
    metrics = summary_metrics(report)
    assert metrics["relationship_type_accuracy"] is None
    assert metrics["relationship_type_accuracy_n"] == 0
    markdown = render_markdown(report)
    assert (
        "| relationship-type accuracy (of endpoint-matched relationships) | n/a (n = 0);"
        in markdown
    )
    assert "| a | 1 | 1.000 (1/1) | 1.000 | 1.000 | 0.000 | n/a (n = 0) |" in markdown
    assert (
        "| confidence calibration error (ECE, 10 bins; n: stated confidences) | n/a (n = 0) |"
        in markdown
    )


def test_the_json_round_trip_keeps_the_document_scores_the_figures_are_made_from() -> None:
    report = report_of(record(ANSWER))
    back = QualityReport.model_validate_json(report.model_dump_json())
    assert back == report and back.figures == report.figures


def test_calibration_is_not_reported_for_a_prompt_that_asks_for_no_confidence() -> None:
    # The answer states 0.9 on its one relationship, but v6 never asked for it.
    report = report_of(record(ANSWER, version=V6))
    ece = report.figures["calibration_error"]
    assert (ece.value, ece.n, ece.reason) == (None, 1, NOT_ASKED)
    assert "| n/a (prompt asks for no confidence) |" in render_markdown(report)
    # The same answer under v1, which asks: the one relationship matched at 0.9, |1 - 0.9| = 0.1.
    asked = report_of(record(ANSWER, version=V1)).figures["calibration_error"]
    assert asked.value == pytest.approx(0.1) and asked.n == 1


def test_type_accuracy_counts_pool_over_documents() -> None:
    # Two documents, each with one endpoint-matched relationship: a/one's type right, b/two's
    # wrong (PRODUCES for ENABLES): 1 of 2 = 0.5, n = 2.
    text_b = "Flour feeds the starter."
    doc_b = DOC.model_copy(update={"document_id": "b/two", "category": "b", "text": text_b})
    chunk_b = chunk_document("b/two", text_b)[0]
    wrong = ANSWER.model_copy(update={"relationships": [Relationship(
        from_concept_id="c2", to_concept_id="c3", relationship_type="PRODUCES", confidence=0.9,
    )]})  # fmt: skip
    report = report_of(record(ANSWER), record(wrong, chunk=chunk_b), docs=[DOC, doc_b])
    accuracy = report.figures["relationship_type_accuracy"]
    assert (accuracy.value, accuracy.n) == (0.5, 2)
    assert accuracy.interval is not None
    low, high = accuracy.interval
    # Resampling two documents gives 0, 0.5 or 1.
    assert 0.0 <= low <= 0.5 <= high <= 1.0
    markdown = render_markdown(report)
    assert (
        "| a | 1 | 1.000 (1/1) | 1.000 | 1.000 | 1.000 | 1.000 (n = 1, 95 % CI 1.000 to 1.000) |"
        in markdown
    )
    rows = compare_models([report])
    assert rows[0].relationship_type_accuracy.n == 2
    assert "0.500 (n = 2, 95 % CI" in render_comparison(rows)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_a_ratios_interval_contains_its_pooled_value_and_is_seeded(seed: int) -> None:
    # Documents of (part, whole): pooled 2+0+3+1+4 / 3+2+4+1+5 = 10/15.
    parts = [(2, 3), (0, 2), (3, 4), (1, 1), (4, 5)]
    estimate = ratio_estimate(parts, seed=seed)
    assert estimate.value == pytest.approx(10 / 15) and estimate.n == 15
    assert estimate.interval is not None
    low, high = estimate.interval
    assert 0.0 <= low <= estimate.value <= high <= 1.0
    assert ratio_estimate(parts, seed=seed) == estimate  # same seed, same interval


def test_identical_documents_give_a_point_interval_at_the_value() -> None:
    # Every resample of identical documents has the same ratio (1/4) and the same ECE.
    assert ratio_estimate([(1, 4)] * 5).interval == (0.25, 0.25)
    outcomes = [(0.9, True), (0.8, False), (0.3, False)]
    estimate = calibration_estimate([outcomes] * 4, asks_confidence=True)
    # Bins: 0.9 -> |1 - 0.9| = 0.1; 0.8 -> |0 - 0.8| = 0.8; 0.3 -> 0.3: (0.1 + 0.8 + 0.3) / 3.
    assert (
        estimate.value
        == pytest.approx(expected_calibration_error(outcomes * 4))
        == pytest.approx(0.4)
    )
    assert estimate.interval == pytest.approx((0.4, 0.4))
    assert estimate.n == 12


def test_a_calibration_interval_contains_its_value() -> None:
    by_document = [
        [(0.9, True), (0.7, True)],
        [(0.9, False)],
        [(0.2, False), (0.6, True), (0.95, True)],
        [(0.5, False)],
    ]
    estimate = calibration_estimate(by_document, asks_confidence=True)
    assert estimate.value == pytest.approx(
        expected_calibration_error([o for outcomes in by_document for o in outcomes])
    )
    assert estimate.interval is not None and estimate.value is not None
    low, high = estimate.interval
    assert 0.0 <= low <= estimate.value <= high <= 1.0


def test_an_estimate_describes_itself_with_its_count() -> None:
    assert (
        Estimate(value=2 / 3, n=3, interval=(0.5, 1.0)).describe()
        == "0.667 (n = 3, 95 % CI 0.500 to 1.000)"
    )
    assert Estimate(value=None, n=0).describe() == "n/a (n = 0)"
    assert Estimate(value=None, n=4, reason=NOT_ASKED).describe() == f"n/a ({NOT_ASKED})"
