"""Text2KGBench's own metrics, as its evaluation script defines them: triple precision, recall
and F1, ontology conformance, and subject, relation and object hallucination rates
(Mihindukulasooriya et al., "Text2KGBench", ISWC 2023; ``src/evaluation/run_eval.py`` of the
repository cenguix/Text2KGBench, followed line by line here so that a figure reads beside the
paper's).

Per sentence (``score_sentence``):
- Triples are compared as strings: subject, relation and object each lower-cased with every
  underscore and run of whitespace removed, then concatenated (``Abilene,_Texas`` and "Abilene,
  Texas" are the same subject). Gold and predicted triples are sets of such strings.
- Before comparing, the predicted triples whose relation is not among the sentence's gold
  relations are dropped (the paper scores the triples it could judge); precision is correct /
  kept, recall correct / gold; a sentence with nothing kept scores 0, 0, 0.
- Ontology conformance: the share of the predicted triples (all of them, before that filter)
  whose relation is one of the ontology's relation labels; relation hallucination is 1 minus it.
- Subject (object) hallucination: the share of predicted triples whose subject (object) is not a
  substring of the sentence followed by the ontology's concept labels, both tokenised, Porter-
  stemmed and joined without spaces or underscores ("01 January" is ignored in entities, so a
  date written as a year still matches).
- A sentence with no predicted triple: conformance 1, hallucinations 0 (the script's values).

Per ontology, the mean over its sentences; overall, the mean over ontologies: **macro**, as the
paper reports. The script counts a test sentence the system left out as 0 on every figure; here
every scored document (one with extraction records) is in the system's output, with the
triples its valid chunks gave, possibly none. Two departures, both where the script divides by
nothing: a group with no predicted triple has no conformance or hallucination rate ("n/a (n =
0)", not the script's 1 and 0), nor a group with no kept triple a precision; the overall figure
averages the ontologies where it is defined. Every figure carries the triple count it stands on
(``Estimate.n``: kept triples for precision, gold triples for recall and F1, predicted triples for
the rest) and a bootstrap interval over sentences, resampled within each ontology.

Tokenising: the script's ``word_tokenize`` splits sentences with Punkt (a data download) and then
applies NLTK's Treebank word tokenizer to each; here the word tokenizer is applied to the whole
text. The tokens differ only at a full stop inside a text, which stays on its word; substring
matching is unaffected except for a stem that a trailing "." keeps from being cut.

Predicted triples are a document's answers merged across its chunks, taken twice (see
``Text2KGBenchReport``): the model's own and the pipeline's grounded output. Each relationship's
ends are its concepts' labels (an ``inward`` relationship read backwards), its type the ontology
label it was made from (``AIRCRAFT_FIGHTER`` -> ``aircraftFighter``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from nltk.stem.porter import PorterStemmer
from nltk.tokenize.destructive import NLTKWordTokenizer
from pydantic import BaseModel

from kg_pipeline.contract.reference import GoldOntology, GoldTriple
from kg_pipeline.contract.schema import DirectionSemantics
from kg_pipeline.corpus.documents import Document
from kg_pipeline.corpus.importers.common import relation_type_name
from kg_pipeline.extraction.merging import MergedDocument, merge_document
from kg_pipeline.extraction.records import ChunkExtraction
from kg_pipeline.quality.estimates import (
    BOOTSTRAP_SAMPLES,
    BOOTSTRAP_SEED,
    Estimate,
    percentile_interval,
    resample_weights,
)
from kg_pipeline.quality.model_answers import models_own_answer

_SPACE_OR_UNDERSCORE = re.compile(r"(_|\s+)")
_STEMMER = PorterStemmer()
_TOKENIZER = NLTKWordTokenizer()

# The figures, each with what its count is taken over (a SentenceScore field).
FIGURES: dict[str, str] = {
    "precision": "kept",
    "recall": "gold",
    "f1": "gold",
    "conformance": "predicted",
    "subject_hallucination": "predicted",
    "relation_hallucination": "predicted",
    "object_hallucination": "predicted",
}


class PaperTriple(NamedTuple):
    subject: str
    relation: str
    object: str


def normalise_triple(triple: PaperTriple) -> str:
    """``("Abilene,_Texas", "cityServed", "Abilene Regional Airport")`` ->
    ``"abilene,texascityservedabileneregionalairport"``: the script's ``normalize_triple``."""
    return "".join(_SPACE_OR_UNDERSCORE.sub("", part).lower() for part in triple)


@lru_cache(maxsize=4096)
def stemmed(text: str) -> str:
    """Tokenised, each token Porter-stemmed (lower-cased), joined, whitespace and underscores
    removed: the script's form of a sentence context and of an entity."""
    joined = "".join(_STEMMER.stem(token) for token in _TOKENIZER.tokenize(text))
    return _SPACE_OR_UNDERSCORE.sub("", joined).lower()


def stemmed_entity(entity: str) -> str:
    """The script's ``clean_entity_string``: a date's "01 January" stem is dropped."""
    return stemmed(entity).replace("01januari", "")


class SentenceScore(BaseModel):
    """One sentence by the script's definitions, with the counts they are taken over."""

    document_id: str
    ontology: str
    precision: float
    recall: float
    f1: float
    conformance: float
    subject_hallucination: float
    relation_hallucination: float
    object_hallucination: float
    predicted: int  # predicted triples, as listed
    kept: int  # distinct predicted triples with a gold relation of the sentence
    gold: int  # distinct gold triples
    correct: int  # kept triples that are gold
    conformant: int  # predicted triples whose relation is in the ontology
    subjects_hallucinated: int
    objects_hallucinated: int


def score_sentence(
    document_id: str,
    sentence: str,
    ontology: GoldOntology,
    gold: Sequence[PaperTriple],
    predicted: Sequence[PaperTriple],
) -> SentenceScore:
    gold_relations = {t.relation.replace(" ", "_") for t in gold}
    kept = {normalise_triple(t) for t in predicted if t.relation in gold_relations}
    reference = {normalise_triple(t) for t in gold}
    correct = len(kept & reference)
    precision = correct / len(kept) if kept else 0.0
    recall = correct / len(reference) if kept and reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    ontology_relations = {label.replace(" ", "_") for label in ontology.relations}
    conformant = sum(t.relation in ontology_relations for t in predicted)
    # The script appends the concept labels to the sentence with no space between.
    context = stemmed(sentence + " ".join(ontology.concepts))
    subjects = sum(stemmed_entity(t.subject) not in context for t in predicted)
    objects = sum(stemmed_entity(t.object) not in context for t in predicted)
    count = len(predicted)
    return SentenceScore(
        document_id=document_id,
        ontology=ontology.name,
        precision=precision,
        recall=recall,
        f1=f1,
        conformance=conformant / count if count else 1.0,
        subject_hallucination=subjects / count if count else 0.0,
        relation_hallucination=1 - conformant / count if count else 0.0,
        object_hallucination=objects / count if count else 0.0,
        predicted=count,
        kept=len(kept),
        gold=len(reference),
        correct=correct,
        conformant=conformant,
        subjects_hallucinated=subjects,
        objects_hallucinated=objects,
    )


def relation_labels(ontology: GoldOntology, gold: Iterable[GoldTriple]) -> dict[str, str]:
    """Vocabulary type -> the label it was made from: the ontology's labels first, then any gold
    relation the ontology lacks; the first label of a type wins."""
    labels: dict[str, str] = {}
    for label in [*ontology.relations, *(t.rel for t in gold)]:
        labels.setdefault(relation_type_name(label), label)
    return labels


def predicted_triples(candidate: MergedDocument, labels: Mapping[str, str]) -> list[PaperTriple]:
    """The document's relationships as (subject label, relation label, object label); a type
    made from no label of the ontology is kept as the model wrote it (not conformant)."""
    label_of: dict[str, str] = {}
    for concept_id, concept in zip(candidate.concept_ids, candidate.concepts, strict=True):
        label_of.setdefault(concept_id, concept.label)
    triples: list[PaperTriple] = []
    for rel in candidate.relationships:
        head, tail = label_of[rel.from_concept_id], label_of[rel.to_concept_id]
        if rel.direction_semantics is DirectionSemantics.INWARD:
            head, tail = tail, head
        relation = labels.get(rel.relationship_type, rel.relationship_type)
        triples.append(PaperTriple(head, relation, tail))
    return triples


class Text2KGBenchScore(BaseModel):
    """Every scored sentence; the figures per ontology and overall are computed from them."""

    sentences: list[SentenceScore]

    @property
    def ontologies(self) -> list[str]:
        return sorted({s.ontology for s in self.sentences})

    def of(self, ontology: str) -> list[SentenceScore]:
        return [s for s in self.sentences if s.ontology == ontology]

    def figures(self, ontology: str | None = None) -> dict[str, Estimate]:
        """The paper's figures for one ontology (mean over its sentences) or overall (mean over
        ontologies), each with its triple count and a bootstrap interval."""
        groups = [self.of(ontology)] if ontology else [self.of(o) for o in self.ontologies]
        return {name: _macro(groups, name, counted) for name, counted in FIGURES.items()}


def _macro(groups: Sequence[Sequence[SentenceScore]], name: str, counted: str) -> Estimate:
    """Mean over the groups where the figure is defined (its count is not 0) of the mean over
    the group's sentences; the interval resamples sentences within each group (seeded apart)."""
    defined = [g for g in groups if sum(getattr(s, counted) for s in g) > 0]
    n = sum(getattr(s, counted) for g in groups for s in g)
    if not defined:
        return Estimate(value=None, n=n)
    means = [float(np.mean([getattr(s, name) for s in g])) for g in defined]
    resampled = np.zeros(BOOTSTRAP_SAMPLES)
    for offset, group in enumerate(defined):
        values = np.array([getattr(s, name) for s in group], dtype=float)
        weights = resample_weights(len(group), BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED + offset)
        resampled += weights @ values / len(group)
    return Estimate(
        value=float(np.mean(means)),
        n=n,
        interval=percentile_interval(resampled / len(defined)),
    )


def score_text2kgbench(
    scored: Iterable[tuple[Document, MergedDocument]],
) -> Text2KGBenchScore | None:
    """Each document whose reference keeps Text2KGBench's triples and ontology, scored with its
    merged candidate; None when no document does (the corpus is not Text2KGBench's)."""
    sentences: list[SentenceScore] = []
    for document, candidate in scored:
        reference = document.reference
        if reference is None or reference.gold_triples is None or reference.ontology is None:
            continue
        gold = [PaperTriple(t.sub, t.rel, t.obj) for t in reference.gold_triples]
        labels = relation_labels(reference.ontology, reference.gold_triples)
        sentences.append(
            score_sentence(
                document.document_id,
                document.text.strip(),
                reference.ontology,
                gold,
                predicted_triples(candidate, labels),
            )
        )
    return Text2KGBenchScore(sentences=sentences) if sentences else None


class Text2KGBenchReport(BaseModel):
    """The metrics twice, like the report's quotes: on the model's own answers, which is what
    the paper scores (an LLM's raw triples), and on the pipeline's output, whose grounding drops
    every concept with nothing in the text behind it, so that its subject and object
    hallucination is near 0 by construction. ``model_answer`` is None when a grounded record
    kept no answer of the model's (records written before it was kept)."""

    model_answer: Text2KGBenchScore | None
    output: Text2KGBenchScore


def text2kgbench_report(
    documents: Sequence[Document],
    records: Mapping[str, Sequence[ChunkExtraction]],
    candidates: Mapping[str, MergedDocument],
) -> Text2KGBenchReport | None:
    """``records`` and ``candidates`` (the merged output) by document id; None when no scored
    document's reference keeps Text2KGBench's triples."""
    scored = [d for d in documents if d.document_id in candidates]
    output = score_text2kgbench((d, candidates[d.document_id]) for d in scored)
    if output is None:
        return None
    own: list[tuple[Document, MergedDocument]] = []
    for document in scored:
        answers = [
            models_own_answer(r) for r in records[document.document_id] if r.extraction is not None
        ]
        kept = [a for a in answers if a is not None]
        if len(kept) < len(answers):
            return Text2KGBenchReport(model_answer=None, output=output)
        own.append((document, merge_document(kept, with_quotes=False)))
    return Text2KGBenchReport(model_answer=score_text2kgbench(own), output=output)


def _cell(estimate: Estimate) -> str:
    return "n/a (n = 0)" if estimate.value is None else f"{estimate.value:.3f} (n = {estimate.n})"


def _score_table(score: Text2KGBenchScore, title: str) -> list[str]:
    lines = [
        "",
        f"{title}:",
        "",
        "| ontology | sentences | triples | P | R | F1 | ontology conformance | subject "
        "hallucination | relation hallucination | object hallucination |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ontology in [*score.ontologies, None]:
        sentences = score.of(ontology) if ontology else score.sentences
        figures = score.figures(ontology)
        counts = " / ".join(
            str(sum(getattr(s, field) for s in sentences))
            for field in ("correct", "kept", "predicted", "gold")
        )
        cells = [
            figures[name].describe() if ontology is None else _cell(figures[name])
            for name in FIGURES
        ]
        name = ontology or f"**overall** ({len(score.ontologies)} ontologies)"
        lines.append(f"| {name} | {len(sentences)} | {counts} | " + " | ".join(cells) + " |")
    return lines


def text2kgbench_markdown(report: Text2KGBenchReport) -> str:
    """The paper's figures per ontology and overall, each with the triples it stands on (the
    overall row with its bootstrap interval): the model's answers, then the pipeline's output."""
    lines = [
        "#### Text2KGBench metrics (the paper's definitions)",
        "",
        "Macro, as the paper reports them: each sentence scored, the mean per ontology, overall "
        "the mean over ontologies (kg_pipeline/quality/text2kgbench.py); a sentence with no "
        "triple kept counts 0 for P, R and F1, one with no triple predicted 1 for conformance "
        "and 0 for hallucination, as in the paper's script. n: the triples a figure stands on "
        "(kept triples for P, gold triples for R and F1, predicted triples for the rest); "
        "triples: correct / kept (a relation of the sentence's gold) / predicted / gold.",
    ]
    if report.model_answer is None:
        lines += ["", "The model's answers: not recorded (records written before they were kept)."]
    else:
        lines += _score_table(report.model_answer, "The model's answers (what the paper scores)")
    lines += _score_table(report.output, "The pipeline's output (grounded, merged)")
    return "\n".join(lines) + "\n"
