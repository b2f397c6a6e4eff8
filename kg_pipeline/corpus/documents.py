"""Reading the corpus: documents, their categories, and their reference extractions.

A bad file never stops the corpus: each one is returned as a ``BadDocument`` that names the file
and says what is wrong, and every good file is still read.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from kg_pipeline.contract.reference import Reference
from kg_pipeline.errors import KgError

DOCUMENT_SUFFIXES = frozenset({".md", ".txt"})
REFERENCE_SUFFIX = ".reference.json"
# At the corpus root, beside README and GUIDELINE: the relation vocabulary its references use
# (an imported data set's own), which a run on the corpus extracts with unless told otherwise.
VOCABULARY_FILE = "vocabulary.json"
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


def read_document(
    path: Path,
    corpus_root: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    confined_to: Path | None = None,
) -> Document:
    """Read one document; raises ``DocumentError`` with a reason a person can act on.

    ``confined_to`` (a resolved folder) is for files found by walking a folder: the document and
    its reference must lie inside it once links are followed, so a link in the corpus cannot send
    a file from elsewhere (``/etc/passwd``) to the model. A file a user names is read as named.
    """
    relative = path.relative_to(corpus_root)
    # Checked once and then read by its real location, so the link cannot change in between.
    source = path if confined_to is None else _inside(path, confined_to)
    size = source.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            f"{size:,} bytes exceeds the {max_bytes:,}-byte limit; split the file or raise "
            "max_document_bytes"
        )
    data = source.read_bytes()
    text = _decoded(data, path.name)
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
        reference=read_reference(path, confined_to),
    )


def _decoded(data: bytes, name: str) -> str:
    """UTF-8 text, or a ``DocumentError`` that says what the bytes are and how to convert them.

    UTF-16 and UTF-32 (Windows editors, PowerShell redirects) are told apart from binary files:
    their NUL bytes are not a sign of an image or an archive but of the wrong encoding."""
    for bom, encoding in _BYTE_ORDER_MARKS:
        # A mark alone proves nothing (0xFF 0xFE opens many binary files): the rest must decode.
        if data.startswith(bom) and _decodes_as(data, encoding):
            raise DocumentError(_convert_hint(f"{encoding} text (byte order mark)", encoding, name))
    if b"\x00" in data:
        head = data[:4096]
        if _alternate_nul(head[0::2], head[1::2]) or _alternate_nul(head[1::2], head[0::2]):
            raise DocumentError(
                _convert_hint("UTF-16 text without a byte order mark", "UTF-16", name)
            )
        raise DocumentError("binary content (NUL bytes); only UTF-8 text documents are read")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from exc


# UTF-32's little-endian mark starts with UTF-16's, so it is looked for first.
_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _decodes_as(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _alternate_nul(nul_half: bytes, text_half: bytes) -> bool:
    """Every other byte NUL and none of the rest: ASCII-range text written as UTF-16."""
    return bool(text_half) and not nul_half.strip(b"\x00") and b"\x00" not in text_half


def _convert_hint(what: str, encoding: str, name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    converted = f"{stem}.utf8{dot}{suffix}" if dot else f"{name}.utf8"
    command = f"iconv -f {encoding} -t UTF-8 {shlex.quote(name)} > {shlex.quote(converted)}"
    return (
        f"{what}; only UTF-8 documents are read: convert it, e.g. `{command}`, and put the "
        "converted file in its place"
    )


def _inside(path: Path, folder: Path) -> Path:
    """The real location of ``path``; raises unless it is a regular file inside ``folder``."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # a dangling link, or a loop of links
        raise DocumentError(f"a link that leads nowhere readable ({exc})") from exc
    if not real.is_relative_to(folder):
        raise DocumentError(
            f"a link to {real}, outside the corpus folder; it is not read (copy the file into "
            "the corpus if it belongs there)"
        )
    if not real.is_file():
        raise DocumentError("not a regular file (a folder, pipe, socket or device); not read")
    return real


def read_reference(document_path: Path, confined_to: Path | None = None) -> Reference | None:
    ref_path = document_path.with_name(document_path.stem + REFERENCE_SUFFIX)
    if not ref_path.is_file():
        return None
    source = ref_path
    if confined_to is not None:
        try:
            source = _inside(ref_path, confined_to)
        except DocumentError as exc:
            raise DocumentError(f"reference {ref_path.name} is {exc}") from exc
    try:
        return Reference.model_validate_json(source.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise DocumentError(f"reference {ref_path.name} is not a valid reference: {exc}") from exc


class DocumentError(KgError, ValueError):
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
    real_root = root.resolve()
    # Documents live in category folders; files at the top (README, GUIDELINE) describe the corpus.
    for path in sorted(root.glob("*/**/*")):
        if path.suffix not in DOCUMENT_SUFFIXES or (path.is_dir() and not path.is_symlink()):
            continue
        try:
            documents.append(read_document(path, root, max_bytes, confined_to=real_root))
        except (DocumentError, OSError) as exc:
            bad.append(BadDocument(path=path.relative_to(root).as_posix(), reason=str(exc)))
    return documents, bad


def corpus_vocabulary_file(corpus_root: str | Path) -> Path | None:
    """The corpus's own vocabulary file, if it has one: an imported gold set's references use
    the data set's relation types, and scored against base31 its pair and typed figures read 0."""
    path = Path(corpus_root) / VOCABULARY_FILE
    return path if path.is_file() else None


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
