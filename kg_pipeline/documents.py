"""Reading the corpus: documents, their categories, and their reference extractions.

A bad file never stops the corpus: each one is returned as a ``BadDocument`` that names the file
and says what is wrong, and every good file is still read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from kg_pipeline.reference import Reference

DOCUMENT_SUFFIXES = frozenset({".md", ".txt"})
REFERENCE_SUFFIX = ".reference.json"
# Far beyond any real document (a 2,500-word text is ~15 KB); a file this large is almost
# certainly a mistake (a dump, a binary renamed), and reading it would stall the run.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


class Document(BaseModel):
    document_id: str  # "<category>/<stem>": stable, readable, unique within the corpus
    category: str
    path: str
    text: str
    sha256: str
    reference: Reference | None = None


@dataclass(frozen=True)
class BadDocument:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_document(path: Path, corpus_root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read one document; raises ``DocumentError`` with a reason a person can act on."""
    relative = path.relative_to(corpus_root)
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            f"{size:,} bytes exceeds the {max_bytes:,}-byte limit; split the file or raise "
            "max_document_bytes"
        )
    data = path.read_bytes()
    if b"\x00" in data:
        raise DocumentError("binary content (NUL bytes); only UTF-8 text documents are read")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from exc
    if not text.strip():
        raise DocumentError("empty document (no text after removing whitespace)")
    category = relative.parts[0]
    document_id = relative.with_suffix("").as_posix()
    return Document(
        document_id=document_id,
        category=category,
        path=relative.as_posix(),
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        reference=read_reference(path),
    )


def read_reference(document_path: Path) -> Reference | None:
    ref_path = document_path.with_name(document_path.stem + REFERENCE_SUFFIX)
    if not ref_path.is_file():
        return None
    try:
        return Reference.model_validate_json(ref_path.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise DocumentError(f"reference {ref_path.name} is not a valid reference: {exc}") from exc


class DocumentError(ValueError):
    pass


def load_corpus(
    corpus_root: str | Path, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[Document], list[BadDocument]]:
    root = Path(corpus_root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"corpus folder {root.resolve()} does not exist; set corpus_dir in the documents "
            "asset's config"
        )
    documents: list[Document] = []
    bad: list[BadDocument] = []
    # Documents live in category folders; files at the top (README, GUIDELINE) describe the corpus.
    for path in sorted(root.glob("*/**/*")):
        if not path.is_file() or path.suffix not in DOCUMENT_SUFFIXES:
            continue
        try:
            documents.append(read_document(path, root, max_bytes))
        except (DocumentError, OSError) as exc:
            bad.append(BadDocument(path=path.relative_to(root).as_posix(), reason=str(exc)))
    return documents, bad


def sample_per_category(documents: list[Document], per_category: int) -> list[Document]:
    """The ``per_category`` shortest documents of each category (ties by id), in corpus order."""
    by_category: dict[str, list[Document]] = {}
    for doc in documents:
        by_category.setdefault(doc.category, []).append(doc)
    keep = {
        doc.document_id
        for docs in by_category.values()
        for doc in sorted(docs, key=lambda d: (len(d.text), d.document_id))[:per_category]
    }
    return [doc for doc in documents if doc.document_id in keep]
