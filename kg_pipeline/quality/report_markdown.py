"""The per-model quality report as markdown: the file in results/quality/ and the asset's
`report` metadata. Coverage comes first, since every figure below stands on it. Every rate shows
its count and interval ("0.667 (n = 3, 95 % CI ...)"), "n/a (n = 0)" when there is nothing to
take it over; quotes and hallucinations show the model's own answers beside the pipeline's
output, since grounding makes the output's quotes verbatim by construction. A corpus imported
from Text2KGBench also gets the data set's own metrics, per ontology and overall."""

from __future__ import annotations

from collections.abc import Mapping

from kg_pipeline.quality.concepts import MatchLevel
from kg_pipeline.quality.estimates import Estimate
from kg_pipeline.quality.figures import type_accuracy
from kg_pipeline.quality.report import QualityReport
from kg_pipeline.quality.run_counts import RunCounts
from kg_pipeline.quality.text2kgbench import text2kgbench_markdown
from kg_pipeline.quality.validity import ValidityCounts, share

# (row label, figure name) of the table of the model's answers beside the pipeline's output.
_ANSWER_ROWS = (
    ("quotes verbatim in the chunk", "quote_precision"),
    ("quotes found after normalising", "quote_normalised_precision"),
    ("quote error rate (found in neither form)", "quote_error_rate"),
    ("off-vocabulary types", "off_vocabulary_rate"),
    ("relationships to unlisted concepts", "dangling_relationship_rate"),
    ("quotes not in the chunk", "quotes_not_in_chunk_rate"),
    ("concepts without an instance", "unsupported_concept_rate"),
)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _run_count_lines(counts: RunCounts | None) -> list[str]:
    """Per-document cost and waste, so a run reads beside the naive-script benchmark's table;
    none for a report written before they were counted."""
    if counts is None:
        return []
    longest = "n/a" if counts.completion_tokens_max is None else counts.completion_tokens_max
    return [
        f"| seconds per document (its chunks' model calls, summed) | "
        f"{_fmt(counts.seconds_per_document, 1)} |",
        f"| model calls per document (attempts and re-asks) | "
        f"{_fmt(counts.calls_per_document, 2)} |",
        f"| output tokens per document (mean); longest chunk answer | "
        f"{_fmt(counts.completion_tokens_per_document, 0)}; {longest} |",
        f"| calls stopped at the output budget (runaway) | {counts.runaway_calls} of "
        f"{counts.chunks} chunks |",
        f"| documents with every chunk schema-valid | "
        f"{share(counts.valid_documents, counts.documents)} |",
        f"| concepts folded by the merge (duplicate rate) | {_fmt(counts.duplicate_rate)} "
        f"({counts.concepts_listed} listed, {counts.concepts_merged} kept) |",
        f"| chunks answered from the response cache (figures of the calls that made them) | "
        f"{counts.cached_chunks} of {counts.chunks} |",
    ]


def _answer_lines(report: QualityReport, figures: Mapping[str, Estimate]) -> list[str]:
    """The model's own answers beside the pipeline's output, then what grounding changed."""
    lines = [
        "",
        "| answers | model's answer | pipeline output |",
        "|---|---|---|",
    ]
    for label, name in _ANSWER_ROWS:
        lines.append(
            f"| {label} | {figures['model_' + name].describe()} | {figures[name].describe()} |"
        )
    g = report.grounding
    if not g.chunks:
        return [*lines, "", "Grounding: off; the output is the model's answer as it gave it."]
    return [
        *lines,
        "",
        f"Grounding ({g.chunks} chunks): of the model's {g.quotes} quotes, {g.kept} kept as "
        f"written, {g.replaced} replaced by the exact span, {g.dropped} dropped (not in the "
        f"chunk), {g.duplicates} dropped as repeats; {g.labels_replaced} concept labels replaced "
        f"by the text's spelling, {g.concepts_dropped} concepts dropped (nothing in the text).",
    ]


def _coverage_lines(report: QualityReport) -> list[str]:
    """A warning above the figures when chunks went unanswered: recall counts their concepts as
    missed (the user did not get them), and the reader should know it was not all the model."""
    coverage = report.coverage
    if coverage is None or coverage.complete:
        return []
    return [
        "",
        f"**Incomplete: this report {coverage.describe()}.** JSON validity is measured over the "
        "answered chunks only; concept and relationship recall count what the unanswered chunks "
        "hold as missed. Extract again once the server answers to complete it.",
    ]


def render_markdown(report: QualityReport) -> str:
    v, rel, figures = report.validity, report.relationships(), report.figures
    pairs, exact_pairs, exact_rel = (
        report.pairs(),
        report.pairs(exact=True),
        report.exact_relationships(),
    )
    lines = [
        f"### {report.model} ({report.endpoint})",
        "",
        f"Measured against: {report.measured_against}",
        f"Vocabulary: {report.vocabulary}; prompt version: {', '.join(report.prompt_versions)}",
        *_coverage_lines(report),
        "",
        "| metric | value |",
        "|---|---|",
        # A root cause may quote the server's answer, pipes and all.
        f"| coverage | {report.coverage_statement.replace('|', '&#124;')} |",
        f"| schema-valid JSON rate (of chunks answered) | {v.schema_valid_share} |",
        f"| parsed / repaired / truncated / failed (of {v.answered} answered) | {v.parsed} / "
        f"{v.repaired} / {v.truncated} / {v.failed} |",
    ]
    for level in report.levels:
        prf, (low, high) = report.micro(level), report.f1_interval[level]
        lines.append(
            f"| concept P / R / F1 ({level.value}, micro) | {_fmt(prf.precision)} / "
            f"{_fmt(prf.recall)} / {_fmt(prf.f1)} (95 % CI {low:.3f} to {high:.3f}) |"
        )
    lines += [
        f"| concept F1 (exact, macro over documents) | {_fmt(report.macro_f1())} |",
        f"| relationship P / R / F1 | {_fmt(rel.prf.precision)} / {_fmt(rel.prf.recall)} / "
        f"{_fmt(rel.prf.f1)} |",
        f"| relationship-type accuracy (of endpoint-matched relationships) | "
        f"{figures['relationship_type_accuracy'].describe()}; {rel.type_matches} of "
        f"{rel.endpoint_matches} carry the reference's type |",
        f"| entity-pair P / R / F1 (any type) | {_fmt(pairs.precision)} / "
        f"{_fmt(pairs.recall)} / {_fmt(pairs.f1)} |",
        f"| entity-pair P / R / F1 (any type, ends matched exactly) | "
        f"{_fmt(exact_pairs.precision)} / {_fmt(exact_pairs.recall)} / {_fmt(exact_pairs.f1)} |",
        f"| relationship P / R / F1 (ends matched exactly) | {_fmt(exact_rel.precision)} / "
        f"{_fmt(exact_rel.recall)} / {_fmt(exact_rel.f1)} |",
        f"| relationships reversed (ends matched backwards) | {rel.reversed} |",
        f"| confidence calibration error (ECE, 10 bins; n: stated confidences) | "
        f"{figures['calibration_error'].describe()} |",
        f"| seconds per chunk (mean) | {_fmt(report.seconds_per_chunk_mean, 1)} |",
        f"| output tokens per chunk (mean) | {_fmt(report.completion_tokens_mean, 0)} |",
        *_run_count_lines(report.run_counts),
        *_answer_lines(report, figures),
        *(
            ["", text2kgbench_markdown(report.text2kgbench).rstrip("\n")]
            if report.text2kgbench is not None
            else []
        ),
        "",
        "| category | documents | schema-valid | concept F1 "
        + " | ".join(f"({lv.value})" for lv in report.levels)
        + " | relationship F1 | type accuracy |",
        "|---|---|---|" + "---|" * len(report.levels) + "---|---|",
    ]
    for category in report.categories:
        in_category = [d for d in report.documents if d.category == category]
        count = len(in_category)
        validity = report.validity_by_category.get(category, ValidityCounts())
        cat_rel = report.relationships(category)
        f1s = " | ".join(_fmt(report.micro(lv, category).f1) for lv in report.levels)
        lines.append(
            f"| {category} | {count} | "
            f"{validity.schema_valid_share} "
            f"| {f1s} | {_fmt(cat_rel.prf.f1)} | {type_accuracy(in_category).describe()} |"
        )
    top = report.top_level
    lines += [
        "",
        f"| document | chunks valid | concepts matched ({top.value}) / predicted / reference "
        "| concept F1 (exact) | concept F1 "
        f"({top.value}) | relationship F1 |",
        "|---|---|---|---|---|---|",
    ]
    for doc in report.documents:
        prf = doc.concepts[top]
        unanswered = f" ({doc.unavailable_chunks} unavailable)" if doc.unavailable_chunks else ""
        lines.append(
            f"| {doc.document_id} | {doc.valid_chunks}/{doc.chunks}{unanswered} | "
            f"{prf.true_positives} / {prf.predicted} / {prf.reference} | "
            f"{_fmt(doc.concepts[MatchLevel.EXACT].f1)} | {_fmt(prf.f1)} | "
            f"{_fmt(doc.relationships.prf.f1)} |"
        )
    models = report.by_model(top)
    if report.routed or len(models) > 1:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(report.routing_rules.items()))
        lines += [
            "",
            f"Routed run: chunks per rule — {rules}." if report.routed else "Several models.",
            "",
            f"| model | documents | concept P / R / F1 ({top.value}, micro) |",
            "|---|---|---|",
        ]
        for model, prf in models.items():
            documents = sum(
                (d.models[0] if len(d.models) == 1 else "mixed") == model for d in report.documents
            )
            lines.append(
                f"| {model} | {documents} | {_fmt(prf.precision)} / {_fmt(prf.recall)} / "
                f"{_fmt(prf.f1)} |"
            )
    if report.unscored_documents:
        lines += ["", f"Not scored (no reference): {', '.join(report.unscored_documents)}"]
    return "\n".join(lines) + "\n"
