"""The headline numbers of a quality report, flat, for the asset's metadata and its checks, and
as the short table `kg bench` prints: the one place that decides which figures a run shows at a
glance and how a figure over nothing reads there."""

from __future__ import annotations

from collections.abc import Mapping

from kg_pipeline.quality.concepts import PRF, MatchLevel
from kg_pipeline.quality.report import QualityReport
from kg_pipeline.quality.text2kgbench import Text2KGBenchReport

# The rates the asset's metadata carries, each with its count as ``<name>_n``.
HEADLINE_FIGURES = (
    "relationship_type_accuracy",
    "calibration_error",
    "model_quote_precision",
    "model_quote_normalised_precision",
    "model_quote_error_rate",
    "quote_precision",
    "quote_error_rate",
)


def summary_metrics(report: QualityReport) -> Mapping[str, float | int | None]:
    """The headline numbers, for asset metadata and checks. A rate over nothing is None (null)
    beside its count, never 0.0, which would read as a measured zero; the schema-valid rate is
    left out when the model answered no chunk (0 would read as bad JSON)."""
    rel = report.relationships()
    out: dict[str, float | int | None] = {
        "relationship_f1": rel.prf.f1,
        "pair_f1": report.pairs().f1,
        "pair_f1_exact": report.pairs(exact=True).f1,
        "relationship_f1_exact": report.exact_relationships().f1,
    }
    figures = report.figures
    for name in HEADLINE_FIGURES:
        out[name] = figures[name].value
        out[f"{name}_n"] = figures[name].n
    if report.schema_valid_rate is not None:
        out["schema_valid_rate"] = report.schema_valid_rate
    for level in report.levels:
        out[f"concept_f1_{level.value}"] = report.micro(level).f1
    if report.text2kgbench is not None:
        sides = {"model": report.text2kgbench.model_answer, "output": report.text2kgbench.output}
        for side, score in sides.items():
            for name, estimate in score.figures().items() if score is not None else ():
                out[f"text2kgbench_{side}_{name}"] = estimate.value
                out[f"text2kgbench_{side}_{name}_n"] = estimate.n
    counts = report.run_counts
    if counts is not None:
        out["seconds_per_document"] = counts.seconds_per_document
        out["calls_per_document"] = counts.calls_per_document
        out["completion_tokens_per_document"] = counts.completion_tokens_per_document
        out["runaway_calls"] = counts.runaway_calls
    return out


def _prf(prf: PRF) -> str:
    return f"{prf.precision:.3f} / {prf.recall:.3f} / {prf.f1:.3f}"


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


_T2K_ROWS = (
    ("triple P", "precision"),
    ("triple R", "recall"),
    ("triple F1", "f1"),
    ("ontology conformance", "conformance"),
    ("subject hallucination", "subject_hallucination"),
    ("relation hallucination", "relation_hallucination"),
    ("object hallucination", "object_hallucination"),
)


def _text2kgbench_lines(t2k: Text2KGBenchReport | None) -> list[str]:
    """Text2KGBench's own figures overall (the paper's macro over ontologies; the per-ontology
    tables are in the report): the model's answer, which the paper's figures judge, and the
    pipeline's output, each with the triples it stands on and its interval."""
    if t2k is None:
        return []
    model = t2k.model_answer.figures() if t2k.model_answer else None
    output = t2k.output.figures()
    lines = [
        f"| Text2KGBench (paper's macro; {len(t2k.output.ontologies)} ontologies, "
        f"{len(t2k.output.sentences)} sentences) | model's answer / pipeline output |"
    ]
    for label, name in _T2K_ROWS:
        own = model[name].describe() if model else "n/a (not recorded)"
        lines.append(f"| Text2KGBench {label} | {own} / {output[name].describe()} |")
    return lines


def headline_markdown(report: QualityReport) -> str:
    """The figures the Re-DocRED side script (benchmarks/redocred_quality.py) gives each arm,
    from the report, as one table: entities, pairs and typed relations with fuzzy and exact
    ends, reversed relations, the model's verbatim quotes beside the grounded output's, and the
    per-document cost. "Fuzzy ends": relation ends mapped through the report's most lenient
    concept assignment; "exact": the README's exact matching rules."""
    rel, figures, lenient = report.relationships(), report.figures, report.top_level
    lines = [
        "| figure | value |",
        "|---|---|",
        f"| entity P / R / F1 (exact) | {_prf(report.micro(MatchLevel.EXACT))} |",
        f"| entity P / R / F1 ({lenient.value}) | {_prf(report.micro(lenient))} |",
        f"| entity-pair P / R / F1 ({lenient.value} ends) | {_prf(report.pairs())} |",
        f"| entity-pair P / R / F1 (exact ends) | {_prf(report.pairs(exact=True))} |",
        f"| typed relation P / R / F1 ({lenient.value} ends) | {_prf(rel.prf)} |",
        f"| typed relation P / R / F1 (exact ends) | {_prf(report.exact_relationships())} |",
        f"| relations reversed | {rel.reversed} |",
        f"| verbatim quotes: model's answer | {figures['model_quote_precision'].describe()} |",
        f"| verbatim quotes: grounded output | {figures['quote_precision'].describe()} |",
        *_text2kgbench_lines(report.text2kgbench),
    ]
    counts = report.run_counts
    if counts is not None:
        lines += [
            f"| seconds per document (model calls) | {_number(counts.seconds_per_document, 1)} |",
            f"| calls per document | {_number(counts.calls_per_document, 2)} |",
            f"| output tokens per document | {_number(counts.completion_tokens_per_document, 0)} |",
            f"| runaway calls (stopped at the output budget) | {counts.runaway_calls} |",
            f"| chunks answered from the response cache | {counts.cached_chunks} of "
            f"{counts.chunks} |",
        ]
    return "\n".join(lines) + "\n"
