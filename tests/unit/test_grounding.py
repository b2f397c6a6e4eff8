"""Grounding an extraction: its quotes are replaced by the source text they match, with offsets
and counts; quotes of something else and concepts with nothing behind them are dropped."""

from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.extraction.grounding import (
    MAX_DROPPED_QUOTES,
    MAX_GROUNDED_QUOTE_LENGTH,
    GroundingSummary,
    ground_extraction,
)
from kg_pipeline.extraction.quote_matching import Span

TEXT = (
    "In Paris, the Eiffel  Tower was completed in 1889, after two years of work. "
    "It was built for the World\u2019s Fair. Pierre Curie won the Nobel Prize in 1903 with his "
    "wife. The U.S. army arrived \u201clate\u201d that day."
)


def source(span: Span | None, text: str = TEXT) -> str:
    assert span is not None
    return text[span.start : span.end]


def extraction(*instances: tuple[str, str]) -> Extraction:
    return Extraction(
        concepts=[
            Concept(concept_id="c1", label="Eiffel Tower", description=""),
            Concept(concept_id="c2", label="Pierre Curie", description=""),
        ],
        instances=[Instance(concept_id=c, quote=q) for c, q in instances],
        relationships=[
            Relationship(
                from_concept_id="c2",
                to_concept_id="c1",
                relationship_type="related_to",
                confidence=0.5,
            )
        ],
    )


def test_grounded_extraction_carries_source_quotes_offsets_and_counts() -> None:
    grounded = ground_extraction(
        extraction(
            ("c1", "Eiffel  Tower"),  # exact
            ("c2", "pierre curie"),  # folded: repaired
            ("c2", "Pierre Curie won Nobel Prize in 1903"),  # fuzzy: repaired
            ("c1", "The tower was finished in the year 1889"),  # paraphrase: dropped
        ),
        TEXT,
    )
    quotes = [(i.concept_id, i.quote) for i in grounded.extraction.instances]
    assert quotes == [
        ("c1", "Eiffel  Tower"),
        ("c2", "Pierre Curie"),
        ("c2", "Pierre Curie won the Nobel Prize in 1903"),
    ]
    assert [TEXT[s:e] for s, e in grounded.summary.offsets] == [q for _, q in quotes]
    summary = grounded.summary
    assert (summary.exact, summary.repaired, summary.dropped, summary.duplicates) == (1, 2, 1, 0)
    assert summary.dropped_quotes == ["The tower was finished in the year 1889"]
    # Labels take the source's spelling of the name ("Eiffel  Tower" has two spaces there).
    assert [c.label for c in grounded.extraction.concepts] == ["Eiffel  Tower", "Pierre Curie"]
    assert grounded.summary.labels_repaired == 1
    assert grounded.extraction.relationships == extraction().relationships


def test_concepts_are_left_alone_when_only_quotes_are_grounded() -> None:
    grounded = ground_extraction(extraction(("c1", "Eiffel  Tower")), TEXT, concepts=False)
    assert grounded.extraction.concepts == extraction().concepts
    assert grounded.summary.labels_repaired == grounded.summary.concepts_dropped == 0


def test_a_concept_with_nothing_in_the_text_behind_it_is_dropped_with_its_relationships() -> None:
    answer = extraction(("c1", "Eiffel  Tower")).model_copy(
        update={
            "concepts": [
                Concept(concept_id="c1", label="Eiffel Tower", description=""),
                Concept(concept_id="c2", label="Marie Curie", description=""),  # not in TEXT
            ]
        }
    )
    grounded = ground_extraction(answer, TEXT)
    assert [c.concept_id for c in grounded.extraction.concepts] == ["c1"]
    assert grounded.extraction.relationships == []  # it pointed from c2
    assert grounded.summary.concepts_dropped == 1
    assert grounded.summary.dropped_labels == ["Marie Curie"]


def test_a_concept_whose_label_is_not_verbatim_stays_when_a_quote_grounds_it() -> None:
    answer = extraction(("c2", "Pierre Curie won the Nobel Prize in 1903")).model_copy(
        update={"concepts": [Concept(concept_id="c2", label="physicist P. Curie", description="")]}
    )
    grounded = ground_extraction(answer, TEXT)
    assert [c.label for c in grounded.extraction.concepts] == ["physicist P. Curie"]


def test_same_concept_grounded_to_the_same_span_is_kept_once() -> None:
    grounded = ground_extraction(
        extraction(
            ("c1", "the Eiffel  Tower"),
            ("c1", "The eiffel tower"),  # same span after folding
            ("c2", "the Eiffel Tower"),  # same span, another concept: kept
        ),
        TEXT,
    )
    assert [i.concept_id for i in grounded.extraction.instances] == ["c1", "c2"]
    assert grounded.summary.offsets == [(10, 27), (10, 27)]
    assert (grounded.summary.exact, grounded.summary.repaired, grounded.summary.duplicates) == (
        1,
        1,
        1,
    )


def test_grounded_quote_over_the_schema_limit_is_cut_at_a_word_and_stays_loadable() -> None:
    words = [f"token{i}" for i in range(20)]
    text = "Intro. " + "\n        ".join(words) + " outro."
    # 10 x 6 + 10 x 7 + 19 spaces = 149 characters: a valid quote. Its span has 9-character
    # separators: token0-token9 take 10 x 15 = 150, token10 ends at 157, token11 at 173 > 160.
    quote = " ".join(words)
    grounded = ground_extraction(extraction(("c1", quote)), text)
    (instance,) = grounded.extraction.instances
    (start, end) = grounded.summary.offsets[0]
    assert len(instance.quote) <= MAX_GROUNDED_QUOTE_LENGTH == 160
    assert instance.quote == text[start:end] and instance.quote.endswith("token10")  # whole word
    assert grounded.summary.repaired == 1
    reloaded = Extraction.model_validate_json(grounded.extraction.model_dump_json())
    assert reloaded == grounded.extraction


def test_dropped_quotes_are_counted_all_but_listed_up_to_the_cap() -> None:
    many = [Instance(concept_id="c1", quote=f"the Louvre Museum wing {i}") for i in range(25)]
    grounded = ground_extraction(
        Extraction.model_construct(concepts=[], instances=many, relationships=[]), TEXT
    )
    assert grounded.summary.dropped == 25
    assert grounded.summary.dropped_quotes == [i.quote for i in many[:MAX_DROPPED_QUOTES]]
    assert grounded.extraction.instances == []


def test_summary_round_trips_through_json() -> None:
    summary = ground_extraction(
        extraction(("c2", "pierre curie"), ("c1", "the Louvre")), TEXT
    ).summary
    assert GroundingSummary.model_validate_json(summary.model_dump_json()) == summary
    assert summary.offsets == [(TEXT.index("Pierre"), TEXT.index(" won"))]
