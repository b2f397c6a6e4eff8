"""Descriptive statistics of a corpus: what a quality number was measured on."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence

from kg_pipeline.corpus.chunking import ChunkingConfig, chunk_document, count_words
from kg_pipeline.corpus.documents import Document


def _median(values: list[int]) -> str:
    return f"{statistics.median(values):g}" if values else "-"


def corpus_stats_markdown(
    documents: Sequence[Document], chunking: ChunkingConfig | None = None
) -> str:
    by_category: dict[str, list[Document]] = defaultdict(list)
    for doc in documents:
        by_category[doc.category].append(doc)
    lines = [
        "| category | documents | words min / median / max | multi-chunk | concepts (median) "
        "| instances (median) | relationships (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for category, docs in [*sorted(by_category.items()), ("all", list(documents))]:
        words = [count_words(d.text) for d in docs]
        multi = sum(len(chunk_document(d.document_id, d.text, chunking)) > 1 for d in docs)
        refs = [d.reference for d in docs if d.reference is not None]

        lines.append(
            f"| {category} | {len(docs)} | {min(words)} / {statistics.median(words):g} / "
            f"{max(words)} | {multi} | {_median([len(r.concepts) for r in refs])} | "
            f"{_median([len(r.instances) for r in refs])} | "
            f"{_median([len(r.relationships) for r in refs])} |"
        )
    return "\n".join(lines) + "\n"
