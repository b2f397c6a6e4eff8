"""Properties every scorer must have, over generated extractions."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import Concept
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY
from kg_pipeline.quality.concepts import MatchLevel, match_concepts, score_concepts
from kg_pipeline.quality.relationships import score_relationships

WORDS = ["oven", "flour", "starter", "crust", "kiln", "yeast", "proofer", "dough", "rye", "salt"]


@st.composite
def references(draw: st.DrawFn) -> Reference:
    labels = draw(
        st.lists(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
            min_size=1, max_size=8, unique_by=lambda s: s,
        )
    )  # fmt: skip
    # Distinct normalised labels only: a reference never lists one concept twice.
    labels = list({label.replace(" ", "_"): label for label in labels}.values())
    concepts = [
        Concept(concept_id=f"concept_{i:03d}", label=label, description="", search_terms=[])
        for i, label in enumerate(labels)
    ]
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, len(labels) - 1), st.integers(0, len(labels) - 1)),
            max_size=10, unique=True,
        )
    )  # fmt: skip
    relationships = [
        ReferenceRelationship(
            from_concept_id=f"concept_{a:03d}", to_concept_id=f"concept_{b:03d}",
            relationship_type=draw(st.sampled_from(BASE_VOCABULARY.types)), confidence=0.9,
        )
        for a, b in pairs if a != b
    ]  # fmt: skip
    return Reference(concepts=concepts, relationships=relationships)


def concept_map(candidate: Reference, reference: Reference) -> dict[str, str]:
    pairs = match_concepts(candidate.concepts, reference.concepts, MatchLevel.FUZZY)
    return {candidate.concepts[i].concept_id: reference.concepts[j].concept_id for i, j in pairs}


def relabelled(ref: Reference, seed: int, shuffle: bool) -> Reference:
    """The same extraction under other concept ids, optionally with every list reordered."""
    rng = random.Random(seed)
    ids = [c.concept_id for c in ref.concepts]
    new_ids = dict(zip(ids, [f"x{n}" for n in rng.sample(range(1000), len(ids))], strict=True))
    concepts = [c.model_copy(update={"concept_id": new_ids[c.concept_id]}) for c in ref.concepts]
    rels = [
        r.model_copy(update={"from_concept_id": new_ids[r.from_concept_id], "to_concept_id": new_ids[r.to_concept_id]})
        for r in ref.relationships
    ]  # fmt: skip
    if shuffle:
        rng.shuffle(concepts)
        rng.shuffle(rels)
    return Reference(concepts=concepts, relationships=rels)


@settings(max_examples=60, deadline=None)
@given(references())
def test_an_extraction_scored_against_itself_is_perfect(ref: Reference) -> None:
    for level in (MatchLevel.EXACT, MatchLevel.FUZZY):
        prf = score_concepts(ref.concepts, ref.concepts, level)
        assert prf.precision == prf.recall == prf.f1 == 1.0
    rel = score_relationships(ref.relationships, ref.relationships, concept_map(ref, ref))
    assert rel.prf.true_positives == len(ref.relationships)
    if ref.relationships:
        assert rel.prf.f1 == 1.0 and rel.type_accuracy == 1.0


@settings(max_examples=60, deadline=None)
@given(references(), references(), st.integers(0, 10_000), st.booleans())
def test_relabelling_ids_and_reordering_change_no_score(
    candidate: Reference, reference: Reference, seed: int, shuffle: bool
) -> None:
    other = relabelled(candidate, seed, shuffle)
    for level in (MatchLevel.EXACT, MatchLevel.FUZZY):
        assert score_concepts(other.concepts, reference.concepts, level) == score_concepts(
            candidate.concepts, reference.concepts, level
        )
    before = score_relationships(
        candidate.relationships, reference.relationships, concept_map(candidate, reference)
    )
    after = score_relationships(
        other.relationships, reference.relationships, concept_map(other, reference)
    )
    assert (after.prf, after.endpoint_matches, after.type_matches) == (
        before.prf, before.endpoint_matches, before.type_matches,
    )  # fmt: skip
