"""Direction in relationship scoring, and entity-pair P/R/F1."""

from kg_pipeline.contract.reference import ReferenceRelationship
from kg_pipeline.contract.schema import DirectionSemantics, Relationship
from kg_pipeline.quality.relationships import score_pairs, score_relationships

# Candidate ids map onto reference ids one to one.
CONCEPT_MAP = {"c1": "r1", "c2": "r2", "c3": "r3"}


def ref(head: str, tail: str, rel_type: str, direction: str = "outward") -> ReferenceRelationship:
    return ReferenceRelationship(
        from_concept_id=head,
        to_concept_id=tail,
        relationship_type=rel_type,
        confidence=1.0,
        direction_semantics=direction,
    )


def cand(head: str, tail: str, rel_type: str, direction: str = "outward") -> Relationship:
    return Relationship(
        from_concept_id=head,
        to_concept_id=tail,
        relationship_type=rel_type,
        confidence=0.8,
        direction_semantics=DirectionSemantics(direction),
    )


def test_a_reversed_relationship_is_wrong_and_counted_as_reversed() -> None:
    score = score_relationships(
        [cand("c2", "c1", "FATHER")], [ref("r1", "r2", "FATHER")], CONCEPT_MAP
    )
    assert score.prf.true_positives == 0
    assert score.reversed == 1


def test_an_inward_relationship_is_read_from_tail_to_head() -> None:
    score = score_relationships(
        [cand("c2", "c1", "FATHER", "inward")], [ref("r1", "r2", "FATHER")], CONCEPT_MAP
    )
    assert score.prf.true_positives == 1 and score.reversed == 0


def test_a_reference_declared_bidirectional_accepts_either_direction() -> None:
    reference = [ref("r1", "r2", "SIBLING", "bidirectional")]
    score = score_relationships([cand("c2", "c1", "SIBLING")], reference, CONCEPT_MAP)
    assert score.prf.true_positives == 1


def test_a_candidate_calling_itself_bidirectional_gets_no_second_chance() -> None:
    score = score_relationships(
        [cand("c2", "c1", "FATHER", "bidirectional")], [ref("r1", "r2", "FATHER")], CONCEPT_MAP
    )
    assert score.prf.true_positives == 0 and score.reversed == 1


def test_pair_f1_ignores_the_type_but_not_the_direction() -> None:
    reference = [ref("r1", "r2", "FATHER"), ref("r1", "r2", "RESIDENCE"), ref("r2", "r3", "CHILD")]
    predicted = [
        cand("c1", "c2", "SPOUSE"),  # right pair, wrong type: a pair hit
        cand("c1", "c2", "FATHER"),  # the same pair again: counted once
        cand("c3", "c2", "CHILD"),  # reversed: a miss
        cand("c1", "c9", "CHILD"),  # an end that matched nothing: a miss
    ]
    pairs = score_pairs(predicted, reference, CONCEPT_MAP)
    assert (pairs.true_positives, pairs.predicted, pairs.reference) == (1, 3, 2)


def test_pair_f1_accepts_a_bidirectional_reference_pair_either_way_once() -> None:
    reference = [ref("r1", "r2", "SIBLING", "bidirectional")]
    predicted = [cand("c2", "c1", "SIBLING"), cand("c1", "c2", "SIBLING")]
    pairs = score_pairs(predicted, reference, CONCEPT_MAP)
    assert (pairs.true_positives, pairs.predicted, pairs.reference) == (1, 1, 1)
