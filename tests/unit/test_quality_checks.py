"""The acceptance checks of `quality_report` judge the model, not what post-processing made of
its answer: grounded quotes are verbatim by construction, so the quote check reads the model's
own quotes, and every check's metadata carries the count and interval its value stands on."""

from kg_pipeline.defs.assets.quality import QualityReportConfig, quality_check_results
from tests.unit.test_quality_figures import ANSWER, record, report_of


def test_the_quote_check_judges_the_models_own_quotes_not_the_grounded_ones() -> None:
    report = report_of(record(ANSWER))
    checks = {c.check_name: c for c in quality_check_results(report, QualityReportConfig())}
    quote = checks["quote_error_check"]
    # The model: 1 of 3 quotes in the chunk in no form, 0.333 >= 0.05: fails. The grounded
    # output (2 of 2 verbatim, error rate 0) would have passed.
    assert not quote.passed
    assert quote.metadata["value"].value == 1 / 3
    assert quote.metadata["n"].value == 3
    assert quote.metadata["grounded_output_error_rate"].value.startswith("0.000 (n = 2")
    # Type accuracy: the one endpoint-matched relationship carries the reference's type.
    accuracy = checks["relationship_type_accuracy_check"]
    assert accuracy.passed and accuracy.metadata["figure"].value.startswith("1.000 (n = 1, 95 % CI")


def test_a_check_with_nothing_to_measure_fails_and_says_n_is_zero() -> None:
    report = report_of(record(ANSWER.model_copy(update={"relationships": []})))
    checks = {c.check_name: c for c in quality_check_results(report, QualityReportConfig())}
    accuracy = checks["relationship_type_accuracy_check"]
    assert not accuracy.passed
    assert accuracy.metadata["value"].value == "n/a"
    assert accuracy.metadata["figure"].value == "n/a (n = 0)"
    assert accuracy.metadata["n"].value == 0
