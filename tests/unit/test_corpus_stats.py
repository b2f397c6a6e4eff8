from kg_pipeline.contract.reference import Reference
from kg_pipeline.contract.schema import Concept
from kg_pipeline.corpus.chunking import ChunkingConfig
from kg_pipeline.corpus.documents import Document
from kg_pipeline.corpus.stats import corpus_stats_markdown


def doc(doc_id: str, words: int, concepts: int) -> Document:
    category = doc_id.split("/")[0]
    reference = Reference(
        concepts=[
            Concept(concept_id=f"c{i}", label=f"l{i}", description="", search_terms=[])
            for i in range(concepts)
        ]
    )
    text = " ".join(["word"] * words)
    return Document(
        document_id=doc_id,
        category=category,
        path=doc_id,
        text=text,
        sha256="",
        reference=reference,
    )


def test_stats_give_word_range_multi_chunk_count_and_median_reference_size() -> None:
    small = ChunkingConfig(target_words=100, min_words=80, max_words=150, overlap_words=20)
    docs = [doc("a/1", 10, 2), doc("a/2", 200, 6), doc("a/3", 50, 3), doc("b/1", 5, 1)]
    table = corpus_stats_markdown(docs, small)
    # a: words 10/50/200; only a/2 (200 words > max 150) spans chunks; concepts median of 2,6,3 = 3.
    assert "| a | 3 | 10 / 50 / 200 | 1 | 3 | 0 | 0 |" in table
    assert "| all | 4 | 5 / 30 / 200 | 1 | 2.5 | 0 | 0 |" in table
