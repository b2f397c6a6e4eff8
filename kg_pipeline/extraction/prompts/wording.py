"""What several prompt versions say alike: the prefix before every text, the example text they
share, the vocabulary written out, and the gleaning requests.

A change here changes the prompt of every version that uses it, so it is a new version for each
of them: the version name is stored with every extraction, and scores of different prompts are
never pooled.
"""

from __future__ import annotations

from kg_pipeline.contract.vocabulary import Vocabulary

# Before the chunk, the last thing in every prompt: everything fixed comes first, so a server's
# prefix cache reuses the whole system prompt and examples from one chunk to the next.
USER_PREFIX = "Text to analyze:\n"

# v1's example text, v2's second and v4's fallback for vocabularies without the named examples'
# types.
EXAMPLE_TEXT = (
    "Aspirin inhibits the enzyme cyclooxygenase, which reduces the production of "
    "prostaglandins and so relieves inflammation."
)


def vocabulary_block(vocabulary: Vocabulary) -> str:
    """The relationship types by category, names only."""
    return "\n".join(
        f"- {category}: {', '.join(types)}" for category, types in vocabulary.categories.items()
    )


def defined_types_block(vocabulary: Vocabulary) -> str:
    """Each relationship type with its one-line definition, head -> tail, where the vocabulary
    defines them: small models pick types by name and often backwards otherwise."""
    if vocabulary.definitions:
        return "\n".join(
            f"- {t}: {vocabulary.definitions[t]}" if t in vocabulary.definitions else f"- {t}"
            for t in vocabulary.types
        )
    return vocabulary_block(vocabulary)


def kinds_hint(vocabulary: Vocabulary) -> str:
    """The data set's entity types as a hint, where it has them."""
    if not vocabulary.entity_types:
        return ""
    return f" Kinds to look for: {'; '.join(vocabulary.entity_types)}."


# GraphRAG's gleaning, reworded for a schema-constrained answer: the model cannot answer "yes/no,
# there is more", so it is asked outright for the missing items, with fresh ids.
GLEANING_REQUEST = (
    "Many entities and relationships in the text were missed in that answer. Answer with one "
    "JSON object in the same shape listing only what is missing: new concepts (ids from c1 "
    "again), their instances, and relationships between them. Repeat nothing already listed."
)
# The same request for an answer in the named shape, which has no instances to ask for.
NAMED_GLEANING_REQUEST = (
    "Many entities and relationships in the text were missed in that answer. Answer with one "
    "JSON object in the same shape listing only what is missing: new concepts (ids from c1 "
    "again), and facts between any entities of the text, named as the text writes them. Repeat "
    "nothing already listed."
)
# And for v6's bare answer, which has no ids either.
BARE_GLEANING_REQUEST = (
    "Many entities and relationships in the text were missed in that answer. Answer with one "
    "JSON object in the same shape listing only what is missing: new concepts, and facts "
    "between any entities of the text, named as the text writes them. Repeat nothing already "
    "listed."
)
