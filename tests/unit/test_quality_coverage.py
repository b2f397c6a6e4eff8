"""The quality report over a run in which some chunks were never answered (server unreachable,
timed out): JSON validity over the answered chunks, with its counts, and the coverage stated in
the markdown and the JSON. Records are built here; every figure is worked out beside it."""

from kg_pipeline.contract.reference import Reference
from kg_pipeline.contract.schema import Concept, Extraction
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import curated_baseline
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.providers import CallStats
from kg_pipeline.quality.concepts import PRF, MatchLevel
from kg_pipeline.quality.headline import summary_metrics
from kg_pipeline.quality.report import QualityReport, build_quality_report
from kg_pipeline.quality.report_markdown import render_markdown
from kg_pipeline.quality.validity import Coverage, ValidityCounts

REFUSED = (
    "http://127.0.0.1:9/v1/chat/completions refused the connection; start the model server "
    "or correct base_url"
)
TIMED_OUT = "http://127.0.0.1:9/v1/chat/completions gave no answer within 5.0s"


def concept(label: str, cid: str) -> Concept:
    return Concept(concept_id=cid, label=label, description="", search_terms=[])


def record(
    chunk: str,
    status: ExtractionStatus,
    labels: tuple[str, ...] = (),
    error: str | None = None,
    document: str = "a/one",
) -> ChunkExtraction:
    answered = status is not ExtractionStatus.UNAVAILABLE
    extraction = (
        Extraction(concepts=[concept(label, f"c{i}") for i, label in enumerate(labels)])
        if status is ExtractionStatus.VALID
        else None
    )
    return ChunkExtraction(
        chunk_id=chunk, document_id=document, endpoint="gpu0", provider="vllm", model="m",
        vocabulary="base31", status=status, extraction=extraction, error=error,
        stats=CallStats(wall_seconds=1.0) if answered else None,
    )  # fmt: skip


DOC = Document(
    document_id="a/one", category="a", path="a/one.md", text="", sha256="0",
    reference=Reference(concepts=[concept("oven", "r1"), concept("flour", "r2")]),
)  # fmt: skip


def report_of(records: list[ChunkExtraction]) -> QualityReport:
    return build_quality_report([DOC], [], records, curated_baseline([DOC]), BASE_VOCABULARY)


def test_an_outage_is_not_counted_as_invalid_json() -> None:
    report = report_of([
        record("a/one#0", ExtractionStatus.VALID, ("oven",)),
        record("a/one#1", ExtractionStatus.UNAVAILABLE, error=REFUSED),
    ])  # fmt: skip
    v = report.validity
    # 2 chunks, 1 answered (valid), 1 never answered: 1/1 schema-valid, nothing failed. The
    # outage used to count as a failed chunk: 1/2 = 0.500.
    assert (v.chunks, v.answered, v.unavailable, v.schema_valid, v.failed) == (2, 1, 1, 1, 0)
    assert report.schema_valid_rate == 1.0
    assert v.schema_valid_share == "1.000 (1/1)"


def test_validity_figures_are_taken_over_the_answered_chunks_and_shown_with_their_counts() -> None:
    records = [record(f"a/one#{i}", ExtractionStatus.VALID, ("oven",)) for i in range(19)]
    records.append(record("a/one#19", ExtractionStatus.MALFORMED))
    records += [record(f"a/one#{i}", ExtractionStatus.UNAVAILABLE, error=REFUSED)
                for i in (20, 21)]  # fmt: skip
    report = report_of(records)
    # 22 chunks, 2 unavailable -> 20 answered; 19 of them valid: 19/20 = 0.950; 1 failed
    assert report.validity.schema_valid_share == "0.950 (19/20)"
    assert (report.validity.failed, report.validity.unavailable) == (1, 2)
    markdown = render_markdown(report)
    assert "| schema-valid JSON rate (of chunks answered) | 0.950 (19/20) |" in markdown
    assert "| parsed / repaired / truncated / failed (of 20 answered) | 19 / 0 / 0 / 1 |" in (
        markdown
    )
    assert "| a | 1 | 0.950 (19/20) |" in markdown  # the category row too


def test_the_coverage_names_the_first_root_cause_and_counts_the_others() -> None:
    coverage = Coverage.of([
        record("a/one#0", ExtractionStatus.VALID, ("oven",)),
        record("a/one#1", ExtractionStatus.UNAVAILABLE, error=REFUSED),
        record("a/one#2", ExtractionStatus.UNAVAILABLE, error=TIMED_OUT),
        record("a/one#3", ExtractionStatus.UNAVAILABLE, error=REFUSED),
    ])  # fmt: skip
    # 4 chunks, 3 unavailable -> 1 answered; two distinct causes, the refusal first
    assert coverage.describe() == f"covers 1 of 4 chunks (3 unavailable: {REFUSED}; 1 other cause)"
    assert Coverage.of([record("x", ExtractionStatus.VALID)]).describe() == "covers 1 of 1 chunks"


def test_a_chunk_never_answered_costs_recall_and_the_report_says_why() -> None:
    report = report_of([
        record("a/one#0", ExtractionStatus.VALID, ("oven",)),
        record("a/one#1", ExtractionStatus.UNAVAILABLE, error=REFUSED),
    ])  # fmt: skip
    # Candidate {oven} against reference {oven, flour}: TP 1, P 1/1, R 1/2. flour may sit in
    # the unanswered chunk, but the user did not get it: still a miss, with the coverage beside.
    assert report.micro(MatchLevel.EXACT) == PRF(1, 1, 2)
    assert report.coverage_statement == f"covers 1 of 2 chunks (1 unavailable: {REFUSED})"
    markdown = render_markdown(report)
    assert f"**Incomplete: this report covers 1 of 2 chunks (1 unavailable: {REFUSED}).**" in (
        markdown
    )
    assert f"| coverage | covers 1 of 2 chunks (1 unavailable: {REFUSED}) |" in markdown
    assert "| a/one | 1/2 (1 unavailable) | 1 / 1 / 2 |" in markdown


def test_the_json_report_carries_its_coverage_and_reads_back() -> None:
    report = report_of([
        record("a/one#0", ExtractionStatus.VALID, ("oven",)),
        record("a/one#1", ExtractionStatus.UNAVAILABLE, error=REFUSED),
    ])  # fmt: skip
    text = report.model_dump_json()
    assert f'"coverage_statement":"covers 1 of 2 chunks (1 unavailable: {REFUSED})"' in text
    back = QualityReport.model_validate_json(text)
    assert back.coverage == report.coverage and back.validity.unavailable == 1


def test_a_report_written_before_coverage_was_counted_says_so() -> None:
    report = report_of([record("a/one#0", ExtractionStatus.VALID, ("oven",))])
    old = report.model_dump(mode="json", exclude={"coverage", "coverage_statement"})
    back = QualityReport.model_validate(old)
    assert back.coverage is None
    assert back.coverage_statement.startswith("coverage not recorded")


def test_with_no_chunk_answered_the_schema_valid_rate_is_not_a_number() -> None:
    report = report_of([record("a/one#0", ExtractionStatus.UNAVAILABLE, error=TIMED_OUT)])
    # 0 answered: no rate at all (0.000 would read as bad JSON), and no headline metric
    assert report.schema_valid_rate is None
    assert report.validity.schema_valid_share == "n/a (0/0)"
    assert "schema_valid_rate" not in summary_metrics(report)
    assert "| schema-valid JSON rate (of chunks answered) | n/a (0/0) |" in render_markdown(report)


def test_validity_counts_from_before_unavailable_was_counted_still_read() -> None:
    old = ValidityCounts.model_validate({"chunks": 2, "parsed": 1, "schema_valid": 1, "failed": 1})
    # no `unavailable` in the file: 0, so 2 answered, 1 valid: 0.500 as before
    assert old.schema_valid_share == "0.500 (1/2)"


def test_the_wait_for_an_unavailable_chunk_is_not_the_models_speed() -> None:
    answered = record("a/one#0", ExtractionStatus.VALID, ("oven",))
    assert answered.stats is not None
    answered.stats.completion_tokens = 50
    waited = record("a/one#1", ExtractionStatus.UNAVAILABLE, error=REFUSED).model_copy(
        update={"stats": CallStats(wall_seconds=300.0)}
    )
    report = report_of([answered, waited])
    # only the answered chunk: 1.0 s and 50 output tokens (not (1 + 300) / 2 = 150.5 s)
    assert (report.seconds_per_chunk_mean, report.completion_tokens_mean) == (1.0, 50)


def test_a_root_cause_quoting_a_pipe_keeps_the_coverage_in_one_table_cell() -> None:
    cause = 'http://127.0.0.1:9/v1/chat/completions answered HTTP 502: {"error": "a | b"}'
    report = report_of([record("a/one#0", ExtractionStatus.UNAVAILABLE, error=cause)])
    row = next(
        line for line in render_markdown(report).splitlines() if line.startswith("| coverage")
    )
    # | coverage | <statement> |: three pipes of the table's own, the cause's escaped
    assert row.count("|") == 3 and "a &#124; b" in row
