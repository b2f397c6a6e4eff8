"""Text2KGBench's own metrics (kg_pipeline/quality/text2kgbench.py) on hand-made triples, each
expected value worked out from the paper's evaluation script (src/evaluation/run_eval.py of
cenguix/Text2KGBench) in the comment beside it."""

import pytest

from kg_pipeline.contract.reference import GoldOntology, GoldTriple, Reference
from kg_pipeline.contract.schema import Concept, DirectionSemantics, Extraction, Relationship
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.grounding import GroundingSummary
from kg_pipeline.extraction.merging import MergedDocument, MergedEdge
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.quality.text2kgbench import (
    PaperTriple,
    SentenceScore,
    Text2KGBenchReport,
    Text2KGBenchScore,
    normalise_triple,
    predicted_triples,
    relation_labels,
    score_sentence,
    stemmed,
    stemmed_entity,
    text2kgbench_markdown,
    text2kgbench_report,
)

AIRPORT = GoldOntology(
    name="airport",
    relations=["cityServed", "location", "country", "runwayLength"],
    concepts=["Airport", "City", "Country"],
)
SENTENCE = "Abilene Regional Airport serves the city of Abilene, Texas, in the United States."
GOLD = [
    PaperTriple("Abilene_Regional_Airport", "cityServed", "Abilene,_Texas"),
    PaperTriple("Abilene,_Texas", "country", "United_States"),
    PaperTriple("Abilene_Regional_Airport", "cityServed", "Abilene,_Texas"),  # repeated
]


def test_a_dbpedia_id_and_a_label_normalise_to_the_same_triple() -> None:
    # Underscores and whitespace removed, lower-cased, the three parts concatenated.
    as_id = PaperTriple("Abilene,_Texas", "cityServed", "Abilene Regional Airport")
    as_label = PaperTriple("Abilene, Texas", "city Served", "abilene_regional_airport")
    expected = "abilene,texascityservedabileneregionalairport"
    assert normalise_triple(as_id) == normalise_triple(as_label) == expected


def test_a_disambiguated_or_quoted_gold_id_matches_only_a_triple_that_keeps_it() -> None:
    # The paper's normalisation keeps the brackets and quotes of a DBpedia id.
    gold = PaperTriple("Airman_(comicsCharacter)", "alternativeName", '"Drake Stevens"')
    assert normalise_triple(gold) == 'airman(comicscharacter)alternativename"drakestevens"'
    assert normalise_triple(PaperTriple("Airman", "alternativeName", "Drake Stevens")) != (
        normalise_triple(gold)
    )


def test_a_sentence_is_scored_on_the_triples_with_its_gold_relations() -> None:
    predicted = [
        PaperTriple("Abilene Regional Airport", "cityServed", "Abilene, Texas"),  # gold 1
        PaperTriple("Abilene, Texas", "country", "USA"),  # gold relation, wrong object
        PaperTriple("Abilene Regional Airport", "location", "Texas"),  # no gold relation
        PaperTriple("Abilene Regional Airport", "operator", "City of Abilene"),  # off-ontology
    ]
    score = score_sentence("airport/1", SENTENCE, AIRPORT, GOLD, predicted)
    # Kept: the two with a gold relation (cityServed, country); gold: 2 distinct triples.
    # P = 1/2, R = 1/2, F1 = 2 * 0.25 / 1.0 = 0.5.
    assert (score.kept, score.gold, score.correct) == (2, 2, 1)
    assert (score.precision, score.recall, score.f1) == (0.5, 0.5, 0.5)
    # Conformance over all 4 predicted: cityServed, country, location are ontology
    # relations, operator is not: 3/4; relation hallucination 1/4.
    assert (score.conformance, score.relation_hallucination) == (0.75, 0.25)
    # Every subject is in the sentence; of the objects, "USA" is not (the sentence says "United
    # States"), "City of Abilene" is ("the city of Abilene", stemmed "citiofabilen"): 1/4.
    assert (score.subject_hallucination, score.object_hallucination) == (0.0, 0.25)
    assert (score.subjects_hallucinated, score.objects_hallucinated) == (0, 1)


def test_a_sentence_without_predicted_triples_takes_the_scripts_values() -> None:
    score = score_sentence("airport/2", SENTENCE, AIRPORT, GOLD, [])
    # run_eval.py: P = R = F1 = 0; conformance 1 and hallucinations 0 over no triples.
    assert (score.precision, score.recall, score.f1) == (0.0, 0.0, 0.0)
    assert (score.conformance, score.subject_hallucination, score.object_hallucination) == (
        1.0,
        0.0,
        0.0,
    )
    assert score.predicted == 0


def test_an_ontology_concept_is_context_and_a_date_loses_its_first_of_january() -> None:
    # "01 January 1990" stems to "01januari1990", from which the script removes "01januari".
    assert stemmed_entity("01 January 1990") == "1990"
    # "Airport" is not in the sentence but is an ontology concept, appended to the context.
    sentence = "Aarhus is served by a field opened in 1990."
    score = score_sentence(
        "airport/3",
        sentence,
        AIRPORT,
        [PaperTriple("Aarhus", "openingYear", "1990")],
        [
            PaperTriple("Airport", "location", "Aarhus"),
            PaperTriple("Aarhus", "openingYear", "01 January 1990"),
        ],
    )
    assert score.subjects_hallucinated == 0 and score.objects_hallucinated == 0
    assert stemmed("Cities") == stemmed("city") == "citi"


def test_relationship_types_are_read_as_their_ontology_labels_and_inward_ones_backwards() -> None:
    candidate = MergedDocument(
        concepts=[
            Concept(concept_id="c1", label="Abilene Regional Airport", description=""),
            Concept(concept_id="c2", label="Abilene, Texas", description=""),
        ],
        concept_ids=["concept_001", "concept_002"],
        relationships=[
            MergedEdge("concept_002", "concept_001", "CITY_SERVED", None,
                       DirectionSemantics.INWARD),
            MergedEdge("concept_001", "concept_002", "OPERATOR", None,
                       DirectionSemantics.OUTWARD),
        ],
    )  # fmt: skip
    labels = relation_labels(AIRPORT, [GoldTriple(sub="a", rel="3rd runway", obj="b")])
    assert labels["CITY_SERVED"] == "cityServed" and labels["3RD_RUNWAY"] == "3rd runway"
    assert predicted_triples(candidate, labels) == [
        PaperTriple("Abilene Regional Airport", "cityServed", "Abilene, Texas"),
        PaperTriple("Abilene Regional Airport", "OPERATOR", "Abilene, Texas"),  # not conformant
    ]


def _sentence(ontology: str, f1: float, predicted: int, conformant: int) -> SentenceScore:
    return SentenceScore(
        document_id=f"{ontology}/x", ontology=ontology, precision=f1, recall=f1, f1=f1,
        conformance=conformant / predicted if predicted else 1.0,
        subject_hallucination=0.0, relation_hallucination=0.0, object_hallucination=0.0,
        predicted=predicted, kept=predicted, gold=2, correct=0, conformant=conformant,
        subjects_hallucinated=0, objects_hallucinated=0,
    )  # fmt: skip


def test_overall_figures_are_the_mean_over_ontologies_of_the_mean_over_sentences() -> None:
    score = Text2KGBenchScore(
        sentences=[
            _sentence("airport", 1.0, 4, 3),
            _sentence("airport", 0.0, 2, 2),
            _sentence("city", 1.0, 0, 0),
        ]
    )
    # F1: airport (1.0 + 0.0) / 2 = 0.5, city 1.0; overall (0.5 + 1.0) / 2 = 0.75 (a mean over
    # the three sentences would be 2/3). n: the 6 gold triples (2 per sentence).
    overall = score.figures()
    assert overall["f1"].value == pytest.approx(0.75) and overall["f1"].n == 6
    assert score.figures("airport")["f1"].value == pytest.approx(0.5)
    # Conformance: airport (3/4 + 2/2) / 2 = 0.875 over 6 predicted triples; city predicted
    # none, so it has no conformance (the script would say 1.0) and overall is airport's alone.
    assert score.figures("airport")["conformance"].value == pytest.approx(0.875)
    city = score.figures("city")["conformance"]
    assert city.value is None and city.n == 0 and city.describe() == "n/a (n = 0)"
    assert overall["conformance"].value == pytest.approx(0.875) and overall["conformance"].n == 6
    low, high = overall["f1"].interval or (None, None)
    assert low is not None and high is not None and low <= 0.75 <= high


def test_the_markdown_shows_each_ontology_with_its_counts_and_n_a_over_nothing() -> None:
    score = Text2KGBenchScore(
        sentences=[_sentence("airport", 1.0, 4, 3), _sentence("city", 0.0, 0, 0)]
    )
    text = text2kgbench_markdown(Text2KGBenchReport(model_answer=None, output=score))
    assert "The model's answers: not recorded" in text
    # airport: correct 0 / kept 4 / predicted 4 / gold 2; conformance 3/4 over 4 triples.
    assert "| airport | 1 | 0 / 4 / 4 / 2 | 1.000 (n = 4) | 1.000 (n = 2) |" in text
    assert "0.750 (n = 4)" in text
    assert "| city | 1 | 0 / 0 / 0 / 2 | n/a (n = 0) | 0.000 (n = 2) |" in text
    assert "| **overall** (2 ontologies) | 2 |" in text


def _record(document_id: str, extraction: Extraction, grounded: bool) -> ChunkExtraction:
    return ChunkExtraction(
        chunk_id=f"{document_id}#0", document_id=document_id, endpoint="e", provider="openai",
        model="m", vocabulary="text2kgbench", status=ExtractionStatus.VALID,
        extraction=extraction, grounding=GroundingSummary() if grounded else None,
    )  # fmt: skip


def test_the_report_scores_documents_whose_reference_keeps_the_gold_triples() -> None:
    reference = Reference(
        gold_triples=[GoldTriple(sub="Aarhus_Airport", rel="location", obj="Tirstrup")],
        ontology=AIRPORT,
    )
    document = Document(
        document_id="airport/1", category="airport", path="airport/1.md",
        text="Aarhus Airport is in Tirstrup.\n", sha256="x", reference=reference,
    )  # fmt: skip
    plain = Document(
        document_id="other/1", category="other", path="other/1.md", text="Nothing.", sha256="y"
    )
    answer = Extraction(
        concepts=[
            Concept(concept_id="c1", label="Aarhus Airport", description=""),
            Concept(concept_id="c2", label="Tirstrup", description=""),
        ],
        relationships=[
            Relationship(from_concept_id="c1", to_concept_id="c2", relationship_type="LOCATION")
        ],
    )
    edge = MergedEdge("concept_001", "concept_002", "LOCATION", None, DirectionSemantics.OUTWARD)
    merged = MergedDocument(
        concepts=list(answer.concepts),
        concept_ids=["concept_001", "concept_002"],
        relationships=[edge],
    )
    candidates = {"airport/1": merged, "other/1": MergedDocument()}
    records = {"airport/1": [_record("airport/1", answer, grounded=False)], "other/1": []}
    report = text2kgbench_report([document, plain], records, candidates)
    assert report is not None and report.model_answer is not None
    # One sentence, its one triple found: P = R = F1 = 1, by the model and in the output.
    for score in (report.model_answer, report.output):
        [sentence] = score.sentences
        assert (sentence.document_id, sentence.f1, sentence.conformance) == ("airport/1", 1.0, 1.0)
    grounded = {"airport/1": [_record("airport/1", answer, grounded=True)], "other/1": []}
    unrecorded = text2kgbench_report([document, plain], grounded, candidates)
    assert unrecorded is not None and unrecorded.model_answer is None
    assert text2kgbench_report([plain], records, candidates) is None
