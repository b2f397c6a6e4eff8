"""The per-model quality report: validity, concepts at each match level, relationships and type
accuracy, quotes and hallucinations (the model's own answers beside the pipeline's grounded
output), against the baseline; per document, category and corpus."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field, computed_field

from kg_pipeline.contract.reference import Reference
from kg_pipeline.contract.vocabulary import Vocabulary
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import Baseline
from kg_pipeline.extraction.merging import MergedDocument, merge_document
from kg_pipeline.extraction.prompts import PROMPTS
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.quality.concepts import (
    PRF,
    Embedder,
    FuzzySimilarity,
    MatchLevel,
    assign,
    exact_ends,
    similarity_levels,
)
from kg_pipeline.quality.estimates import Estimate, f1_interval
from kg_pipeline.quality.figures import report_figures
from kg_pipeline.quality.hallucination import HallucinationCounts
from kg_pipeline.quality.model_answers import judge_chunks
from kg_pipeline.quality.quotes import EMPTY_QUOTE_SCORE, GroundingEffect, QuoteScore
from kg_pipeline.quality.relationships import (
    EMPTY_RELATIONSHIP_SCORE,
    RelationshipScore,
    TypeField,
    score_exact_relations,
    score_pairs,
    score_relationships,
)
from kg_pipeline.quality.run_counts import RunCounts
from kg_pipeline.quality.text2kgbench import Text2KGBenchReport, text2kgbench_report
from kg_pipeline.quality.validity import Coverage, ValidityCounts

BOOTSTRAP_SAMPLES = 1000
_TYPE_FIELD: dict[str, TypeField] = {"kg60": "type_60", "kg90": "type_90"}


class DocumentScore(BaseModel):
    document_id: str
    category: str
    chunks: int
    valid_chunks: int
    unavailable_chunks: int = 0  # never answered: counted in recall, but no fault of the model
    concepts: dict[MatchLevel, PRF]
    relationships: RelationshipScore
    # Entity pairs related at all, whatever the type (reports written before it read as empty).
    pairs: PRF = PRF(0, 0, 0)
    # Pairs and typed relations with the ends matched exactly (README: "Exact matching
    # rules"); reports written before them read as empty.
    pairs_exact: PRF = PRF(0, 0, 0)
    relationships_exact: PRF = PRF(0, 0, 0)
    quotes: QuoteScore  # the pipeline's output: after grounding, when the run grounded quotes
    hallucinations: HallucinationCounts  # of the output, as ``quotes``
    # The same of the model's own answers (kg_pipeline/quality/model_answers.py); None when a
    # grounded chunk's answer was not kept, and in reports written before it was.
    model_quotes: QuoteScore | None = None
    model_hallucinations: HallucinationCounts | None = None
    grounding: GroundingEffect = GroundingEffect()
    # Which models extracted the document's chunks: one, unless the run was routed or switched.
    models: list[str] = Field(default_factory=list)


class QualityReport(BaseModel):
    endpoint: str
    model: str
    measured_against: str
    vocabulary: str
    prompt_versions: list[str]
    levels: list[MatchLevel]
    validity: ValidityCounts
    validity_by_category: dict[str, ValidityCounts]
    seconds_per_chunk_mean: float | None
    completion_tokens_mean: float | None
    documents: list[DocumentScore]
    unscored_documents: list[str]  # no reference to compare with
    f1_interval: dict[MatchLevel, tuple[float, float]]  # bootstrap 95 % over documents
    routed: bool = False  # chunks went to models chosen by the routing rules
    routing_rules: dict[str, int] = Field(default_factory=dict)  # chunks per rule ("default")
    # None in reports written before chunks the model never answered were counted apart.
    coverage: Coverage | None = None
    # Per-document seconds, calls, tokens, runaway calls and duplicates; None in reports
    # written before they were counted.
    run_counts: RunCounts | None = None
    # The data set's own metrics when the corpus came from Text2KGBench (its references keep
    # the gold triples and ontology); None otherwise.
    text2kgbench: Text2KGBenchReport | None = None

    @property
    def schema_valid_rate(self) -> float | None:
        """Over the chunks the model answered; None when it answered none."""
        return self.validity.schema_valid_rate

    @computed_field  # type: ignore[prop-decorator]
    @property
    def coverage_statement(self) -> str:
        """In words, also in the JSON: "covers 39 of 40 chunks (1 unavailable: <cause>)"."""
        if self.coverage is None:
            return "coverage not recorded (a report made before it was counted)"
        return self.coverage.describe()

    @property
    def asks_confidence(self) -> bool:
        """Whether a prompt of the run asked for confidences (a name no longer registered is
        taken as not asking: what it asked cannot be told)."""
        return any(v in PROMPTS and PROMPTS[v].asks_confidence for v in self.prompt_versions)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def figures(self) -> dict[str, Estimate]:
        """Every rate with its count and interval; in the JSON, a rate over nothing is null
        beside its n = 0, never 0.0."""
        return report_figures(self.documents, self.asks_confidence)

    @property
    def grounding(self) -> GroundingEffect:
        total = GroundingEffect()
        for doc in self.documents:
            total = total + doc.grounding
        return total

    @property
    def top_level(self) -> MatchLevel:
        return self.levels[-1]

    def micro(self, level: MatchLevel = MatchLevel.EXACT, category: str | None = None) -> PRF:
        total = PRF(0, 0, 0)
        for doc in self.documents:
            if category is None or doc.category == category:
                total = total + doc.concepts[level]
        return total

    def macro_f1(self, level: MatchLevel = MatchLevel.EXACT) -> float:
        return (
            statistics.fmean(d.concepts[level].f1 for d in self.documents)
            if self.documents
            else 0.0
        )

    def relationships(self, category: str | None = None) -> RelationshipScore:
        total = EMPTY_RELATIONSHIP_SCORE
        for doc in self.documents:
            if category is None or doc.category == category:
                total = total + doc.relationships
        return total

    def pairs(self, exact: bool = False) -> PRF:
        """Entity pairs, ends mapped through the concept assignment, or ``exact``ly."""
        total = PRF(0, 0, 0)
        for doc in self.documents:
            total = total + (doc.pairs_exact if exact else doc.pairs)
        return total

    def exact_relationships(self) -> PRF:
        return sum((doc.relationships_exact for doc in self.documents), PRF(0, 0, 0))

    @property
    def quotes(self) -> QuoteScore:
        total = EMPTY_QUOTE_SCORE
        for doc in self.documents:
            total = total + doc.quotes
        return total

    @property
    def hallucinations(self) -> HallucinationCounts:
        total = HallucinationCounts()
        for doc in self.documents:
            total = total + doc.hallucinations
        return total

    def by_model(self, level: MatchLevel = MatchLevel.EXACT) -> dict[str, PRF]:
        """Concept P/R/F1 (micro) per model over the documents it alone extracted; documents
        extracted by several models are pooled under "mixed". For routed or switched runs, so a
        model's share can be compared with the same model's single-model run."""
        pooled: dict[str, list[PRF]] = defaultdict(list)
        for doc in self.documents:
            key = doc.models[0] if len(doc.models) == 1 else "mixed"
            pooled[key].append(doc.concepts[level])
        return {model: sum(prfs, PRF(0, 0, 0)) for model, prfs in sorted(pooled.items())}

    @property
    def categories(self) -> list[str]:
        return sorted({d.category for d in self.documents})


def bootstrap_f1_interval(
    scores: Sequence[PRF], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile interval of micro F1, resampling documents with replacement."""
    counts = [(s.true_positives, s.predicted, s.reference) for s in scores]
    return f1_interval(counts, samples, seed)


@dataclass(frozen=True)
class RunScoring:
    """What scoring a document needs that is the same for every document of the run. The fuzzy
    similarity is fitted once, on every candidate and reference concept of the run."""

    levels: list[MatchLevel]
    vocabulary: Vocabulary
    fuzzy: FuzzySimilarity
    embedder: Embedder | None
    chunk_text: Mapping[str, str]  # chunk id -> text, for quotes and hallucinations

    @property
    def type_field(self) -> TypeField:
        return _TYPE_FIELD.get(self.vocabulary.name, "relationship_type")


def _concept_scores(
    candidate: MergedDocument, reference: Reference, scoring: RunScoring
) -> tuple[dict[MatchLevel, PRF], dict[str, str]]:
    """P/R/F1 at each match level, and the candidate -> reference concept map that relationships
    are scored through: the most lenient level's assignment, the last of ``levels``."""
    concept_scores: dict[MatchLevel, PRF] = {}
    matches: list[tuple[int, int]] = []
    similarities = (
        similarity_levels(
            candidate.concepts, reference.concepts, scoring.levels, scoring.embedder, scoring.fuzzy
        )
        if candidate.concepts and reference.concepts
        else {}
    )
    for level in scoring.levels:
        similarity = similarities.get(level)
        matches = (
            assign(candidate.concepts, reference.concepts, similarity)
            if similarity is not None
            else []
        )
        concept_scores[level] = PRF(len(matches), len(candidate.concepts), len(reference.concepts))
    concept_map = {candidate.concept_ids[i]: reference.concepts[j].concept_id for i, j in matches}
    return concept_scores, concept_map


def score_document(
    document: Document,
    records: Sequence[ChunkExtraction],
    candidate: MergedDocument,
    reference: Reference,
    scoring: RunScoring,
) -> DocumentScore:
    """One document's score: ``candidate`` (the merge of its chunks' valid extractions) against
    its ``reference``, and its chunk ``records`` for validity, quotes and the models used."""
    concepts, concept_map = _concept_scores(candidate, reference, scoring)
    grounding = judge_chunks(records, scoring.chunk_text, scoring.vocabulary)
    ends = exact_ends(candidate.concepts, candidate.concept_ids, reference.concepts)
    exact = score_exact_relations(
        candidate.relationships, reference.relationships, ends, scoring.type_field
    )
    return DocumentScore(
        document_id=document.document_id,
        category=document.category,
        chunks=len(records),
        valid_chunks=sum(r.status is ExtractionStatus.VALID for r in records),
        unavailable_chunks=sum(r.status is ExtractionStatus.UNAVAILABLE for r in records),
        concepts=concepts,
        relationships=score_relationships(
            candidate.relationships, reference.relationships, concept_map, scoring.type_field
        ),
        pairs=score_pairs(candidate.relationships, reference.relationships, concept_map),
        pairs_exact=exact.pairs,
        relationships_exact=exact.typed,
        quotes=grounding.quotes,
        hallucinations=grounding.hallucinations,
        model_quotes=grounding.model_quotes,
        model_hallucinations=grounding.model_hallucinations,
        grounding=grounding.grounding,
        models=sorted({r.model for r in records}),
    )


def aggregate(
    records: Sequence[ChunkExtraction],
    documents: Sequence[Document],
    scores: Sequence[DocumentScore],
    unscored: Sequence[str],
    baseline: Baseline,
    scoring: RunScoring,
) -> QualityReport:
    """The report from the run's document scores and its records: validity per category,
    coverage, speed and routing come from every record, scored or not."""
    category_of = {d.document_id: d.category for d in documents}
    validity = ValidityCounts()
    validity_by_category: dict[str, ValidityCounts] = defaultdict(ValidityCounts)
    for record in records:
        validity.add(record)
        validity_by_category[category_of.get(record.document_id, "unknown")].add(record)
    # The model's speed, from the chunks it answered: an unavailable chunk's seconds are the wait
    # for a server that was down, which would make the model look slow in model_comparison.
    answered = [
        r.stats for r in records if r.stats and r.status is not ExtractionStatus.UNAVAILABLE
    ]
    seconds = [s.wall_seconds for s in answered if s.wall_seconds > 0]
    tokens = [s.completion_tokens for s in answered if s.completion_tokens]
    return QualityReport(
        endpoint=records[0].endpoint,
        model=records[0].model,
        measured_against=baseline.description,
        vocabulary=scoring.vocabulary.name,
        prompt_versions=sorted({r.prompt_version for r in records}),
        levels=scoring.levels,
        validity=validity,
        validity_by_category=dict(validity_by_category),
        coverage=Coverage.of(records),
        seconds_per_chunk_mean=statistics.fmean(seconds) if seconds else None,
        completion_tokens_mean=statistics.fmean(tokens) if tokens else None,
        documents=list(scores),
        unscored_documents=list(unscored),
        f1_interval={
            level: bootstrap_f1_interval([d.concepts[level] for d in scores])
            for level in scoring.levels
        },
        routed=any(r.routing is not None for r in records),
        routing_rules=dict(
            Counter(r.routing.rule_name or "default" for r in records if r.routing is not None)
        ),
    )


def build_quality_report(
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    records: Sequence[ChunkExtraction],
    baseline: Baseline,
    vocabulary: Vocabulary,
    embedder: Embedder | None = None,
) -> QualityReport:
    """Score one endpoint's records. A document's candidate is the merge of its chunks' valid
    extractions; failed chunks contribute nothing (and so cost recall). Chunks the model never
    answered (unavailable) cost recall too, since the user did not get their concepts, but are
    left out of the JSON-validity figures and counted in the report's coverage instead."""
    if not records:
        raise ValueError("no extraction records to score; materialize `extractions` first")
    by_document: dict[str, list[ChunkExtraction]] = defaultdict(list)
    for record in records:
        by_document[record.document_id].append(record)
    candidates = {
        doc_id: merge_document(
            [r.extraction for r in recs if r.extraction is not None], with_quotes=False
        )
        for doc_id, recs in by_document.items()
    }
    scoring = RunScoring(
        levels=[MatchLevel.EXACT, MatchLevel.FUZZY] + ([MatchLevel.EMBEDDING] if embedder else []),
        vocabulary=vocabulary,
        fuzzy=FuzzySimilarity(
            [c for cand in candidates.values() for c in cand.concepts]
            + [c for ref in baseline.references.values() for c in ref.concepts]
        ),
        embedder=embedder,
        chunk_text={c.chunk_id: c.text for c in chunks},
    )
    scores: list[DocumentScore] = []
    unscored: list[str] = []
    for document in documents:
        doc_records = by_document.get(document.document_id)
        if not doc_records:
            continue
        reference = baseline.references.get(document.document_id)
        if reference is None:
            unscored.append(document.document_id)
            continue
        candidate = candidates[document.document_id]
        scores.append(score_document(document, doc_records, candidate, reference, scoring))
    report = aggregate(records, documents, scores, unscored, baseline, scoring)
    # Against the data set's own triples, which the documents' references keep, whatever the
    # baseline: the metrics are Text2KGBench's, defined on its gold.
    return report.model_copy(
        update={
            "run_counts": RunCounts.of(records, candidates.values()),
            "text2kgbench": text2kgbench_report(documents, by_document, candidates),
        }
    )
