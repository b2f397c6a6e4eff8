"""DocRED / Re-DocRED (JSON list of documents: ``sents``, ``vertexSet``, ``labels``).

Sentences come tokenised; they are joined back into text while recording every token's character
span, so each entity mention becomes a verbatim quote of the rebuilt text. An entity becomes one
concept: its most frequent mention is the label, the other surface forms its search terms.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from kg_pipeline.contract.reference import Reference, ReferenceRelationship
from kg_pipeline.contract.schema import Concept, Instance
from kg_pipeline.contract.vocabulary import Vocabulary, named_vocabulary
from kg_pipeline.corpus.importers.common import (
    MAX_SEARCH_TERMS,
    GoldSetFormatError,
    ImportedDocument,
    ImportSummary,
    provenance,
    relation_type_name,
)

_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "}", "'s", "n't", "%", "'", "''"}
_NO_SPACE_AFTER = {"(", "[", "{", "``", "$"}
_ENTITY_TYPES = {
    "PER": "person",
    "ORG": "organisation",
    "LOC": "location",
    "TIME": "time expression",
    "NUM": "number",
    "MISC": "named entity",
}


def detokenise(sents: list[list[str]]) -> tuple[str, list[list[tuple[int, int]]]]:
    """Text and, per sentence, each token's [start, end) character span in it."""
    text = ""
    spans: list[list[tuple[int, int]]] = []
    previous = ""
    for sentence in sents:
        sentence_spans = []
        for token in sentence:
            if text and token not in _NO_SPACE_BEFORE and previous not in _NO_SPACE_AFTER:
                text += " "
            sentence_spans.append((len(text), len(text) + len(token)))
            text += token
            previous = token
        spans.append(sentence_spans)
    return text, spans


def _relation_names(rel_info_path: Path) -> dict[str, str]:
    data = json.loads(rel_info_path.read_text(encoding="utf-8"))
    return {pid: relation_type_name(name) for pid, name in data.items()}


def relation_vocabulary(rel_info_path: Path) -> Vocabulary:
    """The packaged ``redocred`` vocabulary (with definitions and entity types) when the file
    names the same relations, which the published rel_info.json does; else the bare names."""
    types = tuple(dict.fromkeys(_relation_names(rel_info_path).values()))
    packaged = named_vocabulary("redocred")
    if set(types) == set(packaged.types):
        return packaged
    return Vocabulary(name="redocred-custom", categories={"wikidata": types})


def convert_document(
    raw: dict[str, Any], index: int, relation_names: dict[str, str]
) -> ImportedDocument:
    text, spans = detokenise(raw["sents"])
    concepts, instances = [], []
    for number, entity in enumerate(raw["vertexSet"], start=1):
        concept_id = f"concept_{number:03d}"
        quotes = []
        for mention in entity:
            start_tok, end_tok = mention["pos"]
            sent = spans[mention["sent_id"]]
            quotes.append(text[sent[start_tok][0] : sent[end_tok - 1][1]])
        forms = Counter(quotes)
        label = forms.most_common(1)[0][0]
        others = [f for f in forms if f != label][:MAX_SEARCH_TERMS]
        kind = _ENTITY_TYPES.get(entity[0].get("type", "MISC"), "named entity")
        concepts.append(
            Concept(
                concept_id=concept_id,
                label=label[:80],
                description=f"A {kind} annotated in Re-DocRED.",
                search_terms=[o[:60] for o in others],
            )
        )
        instances += [
            Instance(concept_id=concept_id, quote=q) for q in dict.fromkeys(quotes) if len(q) <= 160
        ]
    relationships = []
    seen = set()
    for label in raw.get("labels", []):
        rel_type = relation_names.get(label["r"], relation_type_name(label["r"]))
        key = (label["h"], label["t"], rel_type)
        if key in seen:
            continue
        seen.add(key)
        relationships.append(
            ReferenceRelationship(
                from_concept_id=f"concept_{label['h'] + 1:03d}",
                to_concept_id=f"concept_{label['t'] + 1:03d}",
                relationship_type=rel_type,
                confidence=1.0,
                direction_semantics="outward",
            )
        )
    reference = Reference(
        provenance=provenance("Re-DocRED dev (Tan et al., 2022; MIT)", "redocred-dev-revised"),
        concepts=concepts,
        instances=instances,
        relationships=relationships,
    )
    title = raw.get("title", "")
    stem = f"{index:04d}"
    return ImportedDocument(
        category="redocred",
        stem=stem,
        text=f"{title}\n\n{text}\n" if title else text,
        reference=reference,
    )


def import_redocred(
    data_path: Path, rel_info_path: Path | None = None, limit: int | None = None
) -> tuple[list[ImportedDocument], Vocabulary, ImportSummary]:
    rel_info = rel_info_path or data_path.with_name("rel_info.json")
    if not rel_info.is_file():
        raise GoldSetFormatError(f"relation names not found at {rel_info}; pass --rel-info PATH")
    try:
        raw_docs = json.loads(data_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GoldSetFormatError(f"cannot read {data_path}: {exc}") from exc
    if not isinstance(raw_docs, list):
        raise GoldSetFormatError(f"{data_path}: expected a JSON list of documents")
    names = _relation_names(rel_info)
    summary = ImportSummary()
    documents = []
    for index, raw in enumerate(raw_docs[:limit] if limit else raw_docs):
        try:
            doc = convert_document(raw, index, names)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            summary.skipped.append(f"document {index}: {type(exc).__name__}: {exc}")
            continue
        documents.append(doc)
        summary.add(doc)
    return documents, relation_vocabulary(rel_info), summary
