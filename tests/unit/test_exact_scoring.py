"""Exact entity, pair and typed-relation scoring: the pipeline's scorer against one written from
the README's rules alone (tests/independent_scorer.py), and the cases the rules exist for."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg_pipeline.contract.normalise import normalise_label
from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import Concept, DirectionSemantics, Extraction, Relationship
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.corpus.documents import Document
from kg_pipeline.extraction.baseline import curated_baseline
from kg_pipeline.extraction.merging import merge_document
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.quality.concepts import PRF, MatchLevel, exact_ends, score_concepts
from kg_pipeline.quality.headline import summary_metrics
from kg_pipeline.quality.relationships import score_exact_relations, score_pairs
from kg_pipeline.quality.report import build_quality_report
from kg_pipeline.quality.report_markdown import render_markdown
from tests import independent_scorer

# Labels chosen to collide after normalisation (case, plural, punctuation, ligature), to normalise
# to nothing, and to overlap only through search terms.
LABELS = [
    "Oven", "ovens", "OVEN!", "flour", "Flours", "Tears for Fears", "tears-for-fears",
    "status", "classes", "class", "ﬁle policies", "file policy", "!!!", "—", "Paris",
    "Paris Hilton", "kiln", "rye", "salt",
]  # fmt: skip
TYPES = ["FATHER", "SPOUSE", "PART_OF", "father", "NOT_A_TYPE"]
DIRECTIONS = ["outward", "inward", "bidirectional"]


def concept(cid: str, label: str, *terms: str) -> Concept:
    return Concept(concept_id=cid, label=label, description="", search_terms=list(terms))


def relationship(head: str, tail: str, rel_type: str, direction: str = "outward") -> Relationship:
    return Relationship(
        from_concept_id=head,
        to_concept_id=tail,
        relationship_type=rel_type,
        direction_semantics=DirectionSemantics(direction),
    )


def ref_relationship(
    head: str, tail: str, rel_type: str, direction: str = "outward"
) -> ReferenceRelationship:
    return ReferenceRelationship(
        from_concept_id=head,
        to_concept_id=tail,
        relationship_type=rel_type,
        confidence=1.0,
        direction_semantics=DirectionSemantics(direction),
    )


@st.composite
def answers(draw: st.DrawFn, prefix: str, ids: int) -> Reference:
    """Concepts under a few ids (an id may repeat, a label may repeat under several ids) and
    relationships between those ids and one no concept carries; possibly empty."""
    id_pool = [f"{prefix}{i}" for i in range(ids)]
    concepts = [
        concept(draw(st.sampled_from(id_pool)), draw(st.sampled_from(LABELS)),
                *draw(st.lists(st.sampled_from(LABELS), max_size=2)))
        for _ in range(draw(st.integers(0, 6)))
    ]  # fmt: skip
    ends = st.sampled_from([*id_pool, f"{prefix}_unlisted"])
    relationships = [
        ref_relationship(draw(ends), draw(ends), draw(st.sampled_from(TYPES)),
                         draw(st.sampled_from(DIRECTIONS)))
        for _ in range(draw(st.integers(0, 8)))
    ]  # fmt: skip
    return Reference(concepts=concepts, relationships=relationships)


def as_data(answer: Reference) -> dict[str, Any]:
    """The answer as plain data, as its JSON reads: all the independent scorer may see."""
    return answer.model_dump(mode="json")


def pipeline_counts(candidate: Reference, reference: Reference) -> tuple[PRF, PRF, PRF]:
    """(entity, pair, typed) counts of one document through the functions the report uses."""
    entity = score_concepts(candidate.concepts, reference.concepts, MatchLevel.EXACT)
    ends = exact_ends(
        candidate.concepts, [c.concept_id for c in candidate.concepts], reference.concepts
    )
    exact = score_exact_relations(candidate.relationships, reference.relationships, ends)
    return entity, exact.pairs, exact.typed


def counts(prf: PRF) -> tuple[int, int, int]:
    return (prf.true_positives, prf.predicted, prf.reference)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(answers("c", 5), answers("r", 6)), min_size=1, max_size=4))
def test_the_pipeline_and_an_independent_scorer_agree_on_exact_f1(
    documents: list[tuple[Reference, Reference]],
) -> None:
    totals = [PRF(0, 0, 0)] * 3
    for candidate, reference in documents:
        mine = pipeline_counts(candidate, reference)
        entity = independent_scorer.entity_counts(as_data(candidate), as_data(reference))
        pairs, typed = independent_scorer.relation_counts(as_data(candidate), as_data(reference))
        assert [counts(prf) for prf in mine] == [entity, pairs, typed]
        totals = [total + prf for total, prf in zip(totals, mine, strict=True)]
    theirs = independent_scorer.score([(as_data(c), as_data(r)) for c, r in documents])
    assert abs(totals[0].f1 - theirs["entity_f1"]) <= 1e-9
    assert abs(totals[1].f1 - theirs["pair_f1"]) <= 1e-9
    assert abs(totals[2].f1 - theirs["typed_f1"]) <= 1e-9


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_the_readme_normalisation_rule_is_the_pipelines(text: str) -> None:
    assert independent_scorer.normalise(text) == normalise_label(text)


# "Paris" listed under three ids, each related to another reference neighbour.
PARIS_REFERENCE = Reference(
    concepts=[concept("r1", "Paris"), concept("r2", "France"), concept("r3", "Seine"),
              concept("r4", "Louvre")],
    relationships=[ref_relationship("r1", "r2", "PART_OF"), ref_relationship("r3", "r1", "PART_OF"),
                   ref_relationship("r4", "r1", "PART_OF")],
)  # fmt: skip
PARIS_ANSWER = Reference(
    concepts=[concept("c1", "Paris"), concept("c2", "paris"), concept("c3", "PARIS"),
              concept("c4", "France"), concept("c5", "Seine"), concept("c6", "Louvre")],
    relationships=[ref_relationship("c1", "c4", "PART_OF"), ref_relationship("c5", "c2", "PART_OF"),
                   ref_relationship("c6", "c3", "PART_OF")],
)  # fmt: skip


def test_an_entity_listed_under_three_ids_keeps_all_its_pairs_when_matched_exactly() -> None:
    ends = exact_ends(
        PARIS_ANSWER.concepts, [c.concept_id for c in PARIS_ANSWER.concepts],
        PARIS_REFERENCE.concepts,
    )  # fmt: skip
    exact = score_exact_relations(PARIS_ANSWER.relationships, PARIS_REFERENCE.relationships, ends)
    # c1, c2, c3 are one entity, Paris = r1: all three relations hit. P 3/3, R 3/3.
    assert exact.pairs == PRF(3, 3, 3) and exact.typed == PRF(3, 3, 3)
    # Through the one-to-one assignment only one of the three ids maps to r1 (here c1):
    # (Paris, France) hits; (Seine, ?c2) and (Louvre, ?c3) are misses. P 1/3, R 1/3.
    one_to_one = {"c1": "r1", "c4": "r2", "c5": "r3", "c6": "r4"}
    assert score_pairs(
        PARIS_ANSWER.relationships, PARIS_REFERENCE.relationships, one_to_one
    ) == PRF(1, 3, 3)


def test_exact_ends_take_the_label_first_then_a_single_shared_form_else_nothing() -> None:
    reference = [
        concept("r1", "Barack Obama", "Obama"),
        concept("r2", "Michelle Obama", "Obama"),
        concept("r3", "White House", "the White House"),
    ]
    answer = [
        concept("c1", "barack obama", "Obama"),  # label equal to r1's: r1
        concept("c2", "Obama"),  # shares "obama" with r1 and r2: ambiguous, nothing
        concept("c3", "The White House!"),  # shares a search term with r3 alone: r3
        concept("c3", "Michelle Obama"),  # an id seen before: ignored
        concept("c4", "!!!", "white house"),  # no label; shares r3's label: r3
    ]
    ends = exact_ends(answer, [c.concept_id for c in answer], reference)
    assert ends.end("c1", reference=False) == ends.end("r1", reference=True)
    assert ends.end("c2", reference=False) == ("candidate label", "obama")
    assert ends.end("c3", reference=False) == ends.end("r3", reference=True)
    assert ends.end("c4", reference=False) == ends.end("r3", reference=True)
    assert ends.end("c9", reference=False) == ("candidate id", "c9")


@pytest.mark.parametrize(
    ("candidate", "expected_pairs", "expected_typed"),
    [
        # Read backwards against an outward reference: a miss on both.
        ([relationship("c2", "c1", "SIBLING")], PRF(0, 1, 1), PRF(0, 1, 1)),
        # inward: the ends swap, and then it is the reference edge.
        ([relationship("c2", "c1", "SIBLING", "inward")], PRF(1, 1, 1), PRF(1, 1, 1)),
        # Stated twice, once with another type: one pair (a hit), two triples (one hit).
        ([relationship("c1", "c2", "SIBLING"), relationship("c1", "c2", "sibling")],
         PRF(1, 1, 1), PRF(1, 2, 1)),
    ],
)  # fmt: skip
def test_exact_relations_read_direction_and_count_distinct_edges(
    candidate: list[Relationship], expected_pairs: PRF, expected_typed: PRF
) -> None:
    concepts = [concept("c1", "Ann"), concept("c2", "Bob")]
    reference = [concept("r1", "ann"), concept("r2", "bob")]
    ends = exact_ends(concepts, ["c1", "c2"], reference)
    exact = score_exact_relations(candidate, [ref_relationship("r1", "r2", "SIBLING")], ends)
    assert (exact.pairs, exact.typed) == (expected_pairs, expected_typed)


def test_a_bidirectional_reference_accepts_either_order_once() -> None:
    ends = exact_ends([concept("c1", "Ann"), concept("c2", "Bob")], ["c1", "c2"],
                      [concept("r1", "ann"), concept("r2", "bob")])  # fmt: skip
    both_ways = [relationship("c2", "c1", "SIBLING"), relationship("c1", "c2", "SIBLING")]
    reference = [ref_relationship("r1", "r2", "SIBLING", "bidirectional")]
    exact = score_exact_relations(both_ways, reference, ends)
    # (Bob, Ann) is read as the reference's (Ann, Bob): one distinct pair, a hit. P 1/1, R 1/1.
    assert exact.pairs == PRF(1, 1, 1) and exact.typed == PRF(1, 1, 1)


def test_the_report_carries_exact_pair_and_relation_f1_as_the_independent_scorer_has_them() -> None:
    text = "Paris lies on the Seine in France; the Louvre is in Paris."
    document = Document(document_id="a/paris", category="a", path="a/paris.md", text=text,
                        sha256="0", reference=PARIS_REFERENCE)  # fmt: skip
    chunk = chunk_document("a/paris", text)[0]
    # The Seine relation is stated backwards: exact pairs (Paris, France) and (Louvre, Paris)
    # hit, (Paris, Seine) does not. P 2/3, R 2/3, F1 2/3.
    extraction = Extraction(
        concepts=PARIS_ANSWER.concepts,
        relationships=[relationship("c1", "c4", "PART_OF"), relationship("c2", "c5", "PART_OF"),
                       relationship("c6", "c3", "PART_OF")],
    )  # fmt: skip
    record = ChunkExtraction(
        chunk_id=chunk.chunk_id, document_id="a/paris", endpoint="ep", provider="ollama",
        model="m", vocabulary="base31", status=ExtractionStatus.VALID, extraction=extraction,
    )  # fmt: skip
    report = build_quality_report(
        [document], [chunk], [record], curated_baseline([document]), BASE_VOCABULARY
    )
    assert report.pairs(exact=True) == PRF(2, 3, 3)
    assert report.exact_relationships() == PRF(2, 3, 3)
    metrics = summary_metrics(report)
    assert metrics["pair_f1_exact"] == pytest.approx(2 / 3)
    assert metrics["relationship_f1_exact"] == pytest.approx(2 / 3)
    # The independent scorer, given the same (merged) candidate, agrees.
    merged = merge_document([extraction], with_quotes=False)
    candidate = {
        "concepts": [
            {**c.model_dump(mode="json"), "concept_id": cid}
            for c, cid in zip(merged.concepts, merged.concept_ids, strict=True)
        ],
        "relationships": [
            {"from_concept_id": e.from_concept_id, "to_concept_id": e.to_concept_id,
             "relationship_type": e.relationship_type,
             "direction_semantics": e.direction_semantics.value}
            for e in merged.relationships
        ],
    }  # fmt: skip
    theirs = independent_scorer.score([(candidate, as_data(PARIS_REFERENCE))])
    assert abs(metrics["pair_f1_exact"] - theirs["pair_f1"]) <= 1e-9
    assert abs(metrics["relationship_f1_exact"] - theirs["typed_f1"]) <= 1e-9
    assert abs(metrics["concept_f1_exact"] - theirs["entity_f1"]) <= 1e-9
    assert (
        "| entity-pair P / R / F1 (any type, ends matched exactly) | 0.667 / 0.667 / 0.667 |"
        in (render_markdown(report))
    )
