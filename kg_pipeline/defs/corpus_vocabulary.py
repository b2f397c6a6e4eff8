"""The vocabulary a run extracts with when its config names none: the corpus's own
(``vocabulary.json`` beside an imported gold set's documents, its relation types), as the
`documents` asset recorded it when it loaded the documents the run works on; else base31.

`kg run --corpus` names it in every op's config. A run launched from the Dagster UI, where a user
changes the `documents` config's folder and nothing else, finds it here, so the extractions, a
recorded baseline and the report agree on it without the user repeating it in three places
(scored against base31, an imported corpus's pair and typed figures read 0).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from kg_pipeline.corpus.documents import corpus_vocabulary_file

# The `documents` asset's metadata entry naming the corpus's vocabulary file ("" when none).
CORPUS_VOCABULARY = "corpus_vocabulary"
DOCUMENTS = dg.AssetKey("documents")


def corpus_vocabulary_metadata(corpus_dir: str | Path) -> dict[str, str]:
    found = corpus_vocabulary_file(corpus_dir)
    return {CORPUS_VOCABULARY: str(found.resolve()) if found else ""}


def run_vocabulary(context: dg.AssetExecutionContext, given: str | None) -> str | None:
    """``given`` when the op's config names a vocabulary; else the vocabulary file of the corpus
    whose documents were last loaded (the ones this run reads); None: the default."""
    if given:
        return given
    event = context.instance.get_latest_materialization_event(DOCUMENTS)
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return None
    entry = materialization.metadata.get(CORPUS_VOCABULARY)
    path = entry.value if entry is not None else None
    if isinstance(path, str) and path:
        context.log.info(f"vocabulary: the corpus's own, {path}")
        return path
    return None
