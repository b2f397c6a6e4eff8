from kg_pipeline.quality.comparison import compare_models, render_comparison
from kg_pipeline.quality.concepts import PRF, MatchLevel
from kg_pipeline.quality.hallucination import HallucinationCounts
from kg_pipeline.quality.quotes import EMPTY_QUOTE_SCORE
from kg_pipeline.quality.relationships import EMPTY_RELATIONSHIP_SCORE
from kg_pipeline.quality.report import DocumentScore, QualityReport, ValidityCounts


def report(endpoint: str, tp: int, seconds: float, tokens: float) -> QualityReport:
    doc = DocumentScore(
        document_id="d", category="c", chunks=1, valid_chunks=1,
        concepts={MatchLevel.EXACT: PRF(tp, 10, 10), MatchLevel.FUZZY: PRF(tp, 10, 10)},
        relationships=EMPTY_RELATIONSHIP_SCORE, quotes=EMPTY_QUOTE_SCORE,
        hallucinations=HallucinationCounts(),
    )  # fmt: skip
    return QualityReport(
        endpoint=endpoint, model=endpoint, measured_against="curated", vocabulary="base31",
        prompt_versions=["v"], levels=[MatchLevel.EXACT, MatchLevel.FUZZY],
        validity=ValidityCounts(chunks=1, parsed=1, schema_valid=1), validity_by_category={},
        seconds_per_chunk_mean=seconds, completion_tokens_mean=tokens, documents=[doc],
        unscored_documents=[], f1_interval={},
    )  # fmt: skip


def test_the_frontier_holds_models_no_other_beats_on_both_quality_and_speed() -> None:
    # big: F1 0.9, 10 s; small: F1 0.6, 2 s; slow: F1 0.5, 20 s (beaten by both on both axes).
    rows = compare_models(
        [report("slow", 5, 20.0, 400), report("small", 6, 2.0, 400), report("big", 9, 10.0, 500)]
    )
    assert [(r.endpoint, r.pareto) for r in rows] == [
        ("big", True),
        ("small", True),
        ("slow", False),
    ]
    # Output tokens per second = mean output tokens / mean seconds per chunk: 500 / 10 = 50.
    assert rows[0].output_tokens_per_second == 50.0
    assert "| big | big | 0.900 |" in render_comparison(rows)


def test_a_report_survives_its_json_round_trip() -> None:
    original = report("big", 9, 10.0, 500)
    assert QualityReport.model_validate_json(original.model_dump_json()) == original
