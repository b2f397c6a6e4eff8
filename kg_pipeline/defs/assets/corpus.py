"""`documents` and `chunks`: the corpus as the pipeline sees it."""

from collections import Counter

import dagster as dg
from pydantic import Field

from kg_pipeline.corpus.chunking import Chunk, ChunkingConfig, chunk_document
from kg_pipeline.corpus.documents import (
    DEFAULT_MAX_BYTES,
    Document,
    load_corpus,
    sample_per_category,
)
from kg_pipeline.defs.corpus_vocabulary import corpus_vocabulary_metadata
from kg_pipeline.settings import CORPUS_DIR

DEFAULT_CORPUS_DIR = str(CORPUS_DIR.get())


class DocumentsConfig(dg.Config):
    corpus_dir: str = Field(
        default=DEFAULT_CORPUS_DIR, description="Folder of documents, one sub-folder per category."
    )
    max_document_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    sample_per_category: int | None = Field(
        default=None,
        ge=1,
        description="Keep only the N shortest documents of each category: a quick run that "
        "still covers every category.",
    )


@dg.asset(group_name="ingest", kinds={"python"})
def documents(context: dg.AssetExecutionContext, config: DocumentsConfig) -> list[Document]:
    """The corpus's readable documents, each with its reference extraction when one exists.

    Unreadable files (empty, binary, not UTF-8, too large) and links that lead out of the corpus
    folder are reported by name and skipped, with the reason in the ``rejected_files``
    metadata; the rest of the run goes on.
    """
    docs, bad = load_corpus(config.corpus_dir, config.max_document_bytes)
    if config.sample_per_category:
        docs = sample_per_category(docs, config.sample_per_category)
    for problem in bad:
        context.log.error(f"skipped document {problem}")
    categories = Counter(d.category for d in docs)
    context.add_output_metadata(
        {
            "documents": len(docs),
            "with_reference": sum(d.reference is not None for d in docs),
            "rejected": len(bad),
            "by_category": dg.MetadataValue.md(
                "| category | documents |\n|---|---|\n"
                + "".join(f"| {c} | {n} |\n" for c, n in sorted(categories.items()))
            ),
            "rejected_files": dg.MetadataValue.md(
                "\n".join(f"- `{b.path}`: {b.reason}" for b in bad) or "none"
            ),
            **corpus_vocabulary_metadata(config.corpus_dir),
        }
    )
    return docs


_CHUNKER_DEFAULTS = ChunkingConfig()


class ChunksConfig(dg.Config):
    """The chunker's own defaults, read from it rather than restated: a run with the defaults
    cuts documents exactly as ``chunk_document`` does for the benchmark scripts, whose figures
    `kg bench` reproduces (a Re-DocRED document stays one chunk in both)."""

    target_words: int = _CHUNKER_DEFAULTS.target_words
    min_words: int = _CHUNKER_DEFAULTS.min_words
    max_words: int = _CHUNKER_DEFAULTS.max_words
    overlap_words: int = _CHUNKER_DEFAULTS.overlap_words
    max_chars: int = _CHUNKER_DEFAULTS.max_chars


@dg.asset(group_name="ingest", kinds={"python"})
def chunks(
    context: dg.AssetExecutionContext, config: ChunksConfig, documents: list[Document]
) -> list[Chunk]:
    """Documents cut at paragraph, sentence or clause ends, with overlap (see chunking.py)."""
    chunking = ChunkingConfig(
        target_words=config.target_words,
        min_words=config.min_words,
        max_words=config.max_words,
        overlap_words=config.overlap_words,
        max_chars=config.max_chars,
    )
    result = [c for d in documents for c in chunk_document(d.document_id, d.text, chunking)]
    sizes = [c.word_count for c in result]
    context.add_output_metadata(
        {
            "chunks": len(result),
            "documents": len(documents),
            "multi_chunk_documents": sum(
                n > 1 for n in Counter(c.document_id for c in result).values()
            ),
            "max_words": max(sizes, default=0),
            "mean_words": float(sum(sizes) / len(sizes)) if sizes else 0.0,
        }
    )
    return result
