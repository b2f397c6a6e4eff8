"""What every importer shares: writing documents, references and the data set's vocabulary."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from kg_pipeline.contract.reference import Provenance, Reference
from kg_pipeline.contract.vocabulary import Vocabulary
from kg_pipeline.corpus.documents import VOCABULARY_FILE
from kg_pipeline.errors import KgError

MAX_SEARCH_TERMS = 5


class GoldSetFormatError(KgError, ValueError):
    """The input is not in the expected format; the message names the file and the field."""


@dataclass(frozen=True)
class ImportedDocument:
    category: str
    stem: str
    text: str
    reference: Reference


@dataclass
class ImportSummary:
    documents: int = 0
    concepts: int = 0
    quoted_concepts: int = 0
    relationships: int = 0
    skipped: list[str] = field(default_factory=list)

    def add(self, doc: ImportedDocument) -> None:
        self.documents += 1
        self.concepts += len(doc.reference.concepts)
        self.quoted_concepts += len({i.concept_id for i in doc.reference.instances})
        self.relationships += len(doc.reference.relationships)


def relation_type_name(name: str) -> str:
    """'place of birth' / 'alternativeName' -> PLACE_OF_BIRTH / ALTERNATIVE_NAME."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", spaced).strip("_").upper()


def provenance(data_set: str, version: str) -> Provenance:
    return Provenance(
        source="imported", annotator=data_set, date=dt.date.today(), guideline_version=version
    )


def write_document(out_dir: Path, doc: ImportedDocument) -> Path:
    """Write one document and its reference, replacing an earlier import of the same id, so an
    import can be re-run without duplicating anything."""
    folder = out_dir / doc.category
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{doc.stem}.md"
    path.write_text(doc.text, encoding="utf-8")
    (folder / f"{doc.stem}.reference.json").write_text(
        doc.reference.model_dump_json(indent=1, exclude_none=True) + "\n", encoding="utf-8"
    )
    return path


def write_vocabulary(out_dir: Path, vocabulary: Vocabulary) -> Path:
    """The data set's relation vocabulary at the corpus root, where loaders do not look for
    documents and `kg corpus check` and `kg run --corpus` find it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / VOCABULARY_FILE
    categories = {name: list(types) for name, types in vocabulary.categories.items()}
    payload: dict[str, object] = {"name": vocabulary.name, "categories": categories}
    if vocabulary.definitions:
        payload["definitions"] = dict(vocabulary.definitions)
    if vocabulary.entity_types:
        payload["entity_types"] = list(vocabulary.entity_types)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return path
