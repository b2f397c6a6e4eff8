"""Metric arithmetic, each expected value worked out by hand beside it."""

import pytest

from kg_pipeline.contract.reference import ReferenceRelationship
from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.quality.concepts import PRF, MatchLevel, match_concepts, score_concepts
from kg_pipeline.quality.hallucination import count_hallucinations
from kg_pipeline.quality.quotes import score_quotes
from kg_pipeline.quality.relationships import score_relationships


def concept(label: str, *terms: str, cid: str = "c") -> Concept:
    return Concept(concept_id=cid, label=label, description="", search_terms=list(terms))


def rel(
    a: str, b: str, t: str = "CAUSES", direction: str = "outward", **extra: str
) -> ReferenceRelationship:
    return ReferenceRelationship(
        from_concept_id=a, to_concept_id=b, relationship_type=t, confidence=0.9,
        direction_semantics=direction, **extra,
    )  # fmt: skip


def test_fuzzy_matches_what_exact_misses_and_never_loses_an_exact_match() -> None:
    pred = [concept("sourdough starter culture"), concept("flour")]
    ref = [concept("sourdough starter"), concept("flour"), concept("proofer")]
    # exact: only "flour" -> TP 1; P 1/2, R 1/3.
    assert score_concepts(pred, ref, MatchLevel.EXACT) == PRF(1, 2, 3)
    # fuzzy: "sourdough starter culture" ~ "sourdough starter" (cosine 0.78 with the vectorizer
    # fitted on these five labels, >= 0.75) joins -> TP 2.
    assert score_concepts(pred, ref, MatchLevel.FUZZY) == PRF(2, 2, 3)


def test_unrelated_labels_stay_unmatched_at_the_fuzzy_level() -> None:
    assert (
        match_concepts([concept("rainfall")], [concept("rainout shelter")], MatchLevel.FUZZY) == []
    )


def test_embedding_level_uses_the_embedder_and_keeps_lower_level_matches() -> None:
    # A toy embedder: "car" and "automobile" point the same way, "flour" elsewhere.
    vectors = {"car": [1.0, 0.0], "automobile": [0.99, 0.05], "flour": [0.0, 1.0]}

    def embed(texts: list[str]):  # type: ignore[no-untyped-def]
        import numpy as np

        return np.array([vectors[t] for t in texts])

    pred = [concept("car"), concept("flour")]
    ref = [concept("automobile"), concept("flour")]
    assert score_concepts(pred, ref, MatchLevel.FUZZY) == PRF(1, 2, 2)
    assert score_concepts(pred, ref, MatchLevel.EMBEDDING, embed) == PRF(2, 2, 2)


def test_duplicates_on_either_side_match_once() -> None:
    # Two candidates "oven" vs reference {oven, oven (again)}: one-to-one gives 2 matches only
    # if both sides have two; here reference has one "oven": TP 1, P 1/2, R 1/1.
    assert score_concepts([concept("oven"), concept("Ovens")], [concept("oven")]) == PRF(1, 2, 1)
    # Reference duplicated, candidate single: TP 1, P 1/1, R 1/2.
    assert score_concepts([concept("oven")], [concept("oven"), concept("oven")]) == PRF(1, 1, 2)


def test_empty_extractions_on_either_side_score_zero_without_error() -> None:
    assert score_concepts([], [concept("a")]) == PRF(0, 0, 1)
    assert score_concepts([concept("a")], []) == PRF(0, 1, 0)
    assert PRF(0, 0, 1).f1 == 0.0


def test_relationships_match_through_the_concept_map_with_direction_and_type() -> None:
    reference = [
        rel("A", "B", "CAUSES"),
        rel("B", "C", "PART_OF"),
        rel("C", "D", "SIMILAR_TO", "bidirectional"),
    ]
    concept_map = {"x": "A", "y": "B", "z": "C", "w": "D"}
    predicted = [
        Relationship(from_concept_id="x", to_concept_id="y", relationship_type="CAUSES", confidence=0.9),  # match
        Relationship(from_concept_id="z", to_concept_id="y", relationship_type="PART_OF", confidence=0.9),  # reversed
        Relationship(from_concept_id="w", to_concept_id="z", relationship_type="SIMILAR_TO", confidence=0.9),  # symmetric: match
        Relationship(from_concept_id="y", to_concept_id="z", relationship_type="CONTAINS", confidence=0.9),  # type wrong
        Relationship(from_concept_id="x", to_concept_id="q", relationship_type="CAUSES", confidence=0.9),  # unmapped
    ]  # fmt: skip
    score = score_relationships(predicted, reference, concept_map)
    # TP 2 (x->y CAUSES, w->z SIMILAR_TO); predicted 5, reference 3: P 0.4, R 2/3.
    assert score.prf == PRF(2, 5, 3)
    # Endpoints matched for x->y, w->z, y->z (3); types right for 2 of them: accuracy 2/3.
    assert (score.endpoint_matches, score.type_matches) == (3, 2)
    assert score.type_accuracy == pytest.approx(2 / 3)


def test_type_accuracy_at_a_finer_vocabulary_uses_the_finer_reference_type() -> None:
    reference = [rel("A", "B", "CAUSES", type_60="TRIGGERS", type_90="LEADS_TO")]
    predicted = [
        Relationship(
            from_concept_id="x", to_concept_id="y", relationship_type="TRIGGERS", confidence=0.5
        )
    ]
    concept_map = {"x": "A", "y": "B"}
    assert score_relationships(predicted, reference, concept_map, "type_60").type_matches == 1
    assert score_relationships(predicted, reference, concept_map, "type_90").type_matches == 0
    assert score_relationships(predicted, reference, concept_map).type_accuracy == 0.0


def test_quote_precision_exact_normalised_and_error_rate() -> None:
    text = "The “quick”  brown fox\njumps."
    quotes = ["quick”  brown", 'the "quick" brown fox jumps', "lazy dog", "fox\njumps"]
    score = score_quotes(quotes, text)
    # verbatim: 1st and 4th (2 of 4) = 0.5; normalised adds the 2nd (3 of 4) = 0.75;
    # "lazy dog" is nowhere: error rate 1/4.
    assert (score.precision, score.normalised_precision, score.error_rate) == (0.5, 0.75, 0.25)


def test_hallucinations_are_counted_by_kind() -> None:
    extraction = Extraction(
        concepts=[concept("oven", cid="c1"), concept("flour", cid="c2")],
        instances=[Instance(concept_id="c1", quote="the oven"), Instance(concept_id="c1", quote="a kiln")],
        relationships=[
            Relationship(from_concept_id="c1", to_concept_id="c2", relationship_type="USES", confidence=0.5),
            Relationship(from_concept_id="c1", to_concept_id="c9", relationship_type="CAUSES", confidence=0.5),
        ],
    )  # fmt: skip
    counts = count_hallucinations(
        extraction, "We light the oven before the flour arrives.", BASE_VOCABULARY
    )
    # USES is not a base type (1); c9 is not a concept (1); "a kiln" is not in the text (1);
    # "flour" (c2) has no instance (1).
    assert (counts.off_vocabulary_types, counts.dangling_relationships) == (1, 1)
    assert (counts.quotes_not_in_chunk, counts.unsupported_concepts) == (1, 1)


def test_expected_calibration_error_by_hand() -> None:
    from kg_pipeline.quality.calibration import expected_calibration_error, reliability_bins

    # Bin [0.9, 1.0]: confidences 0.9, 1.0 (mean 0.95), one matched: accuracy 0.5, gap 0.45.
    # Bin [0.2, 0.3): confidence 0.2, not matched: accuracy 0, gap 0.2.
    # ECE = 2/3 * 0.45 + 1/3 * 0.2 = 0.3 + 0.0667 = 0.3667.
    outcomes = [(0.9, True), (1.0, False), (0.2, False)]
    assert expected_calibration_error(outcomes) == pytest.approx(0.3 + 0.2 / 3)
    bins = reliability_bins(outcomes)
    assert [b.count for b in bins] == [0, 0, 1, 0, 0, 0, 0, 0, 0, 2]
    assert expected_calibration_error([]) is None


def test_relationship_outcomes_feed_calibration() -> None:
    reference = [rel("A", "B")]
    predicted = [
        Relationship(
            from_concept_id="x", to_concept_id="y", relationship_type="CAUSES", confidence=0.9
        ),
        Relationship(
            from_concept_id="x", to_concept_id="y", relationship_type="CAUSES", confidence=0.7
        ),
    ]
    score = score_relationships(predicted, reference, {"x": "A", "y": "B"})
    # The first takes the only reference edge; the duplicate finds it taken: not a match.
    assert score.outcomes == ((0.9, True), (0.7, False))
    assert (score.prf.true_positives, score.endpoint_matches, score.type_matches) == (1, 2, 2)


def test_fuzzy_similarity_without_any_concept_to_learn_from_is_zero_not_an_error() -> None:
    from kg_pipeline.quality.concepts import FuzzySimilarity

    assert FuzzySimilarity([])([["oven"]], [["kiln"]]).tolist() == [[0.0]]


def test_a_relationship_stating_no_confidence_is_scored_but_not_calibrated() -> None:
    predicted = [
        Relationship(from_concept_id="x", to_concept_id="y", relationship_type="CAUSES"),
        Relationship(
            from_concept_id="y", to_concept_id="x", relationship_type="CAUSES", confidence=0.4
        ),
    ]
    score = score_relationships(predicted, [rel("A", "B")], {"x": "A", "y": "B"})
    assert score.prf.true_positives == 1 and score.prf.predicted == 2
    assert score.outcomes == ((0.4, False),)
