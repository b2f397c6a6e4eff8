"""Text2KGBench (JSONL ``{id, sent, triples: [{sub, rel, obj}]}`` + per-domain ontology JSON).

Entities are DBpedia-style ids (``Abilene,_Texas``, ``Airman_(comicsCharacter)``, ``"Drake
Stevens"``); they are normalised into readable labels, and quoted from the sentence where the
sentence says them verbatim (case-insensitively located, copied exactly). Every sentence is one
document; every ontology one category, with its closed relation list as the vocabulary.

Each reference also keeps the sentence's gold triples exactly as the file writes them and its
ontology's relation and concept labels (``Reference.gold_triples``, ``Reference.ontology``): the
data set's own metrics (kg_pipeline/quality/text2kgbench.py) are defined on those.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from kg_pipeline.contract.reference import (
    GoldOntology,
    GoldTriple,
    Reference,
    ReferenceRelationship,
)
from kg_pipeline.contract.schema import Concept, Instance
from kg_pipeline.contract.vocabulary import Vocabulary
from kg_pipeline.corpus.importers.common import (
    GoldSetFormatError,
    ImportedDocument,
    ImportSummary,
    provenance,
    relation_type_name,
)

_PAREN_SUFFIX = re.compile(r"_?\([^)]*\)$")
_ONTOLOGY_FILE = re.compile(r"^(\d+)_(\w+)_ontology\.json$")


def entity_label(raw: str) -> str:
    """``Abilene,_Texas`` -> ``Abilene, Texas``; ``Airman_(comicsCharacter)`` -> ``Airman``;
    ``"Drake Stevens"`` -> ``Drake Stevens``."""
    label = raw.strip().strip('"')
    label = _PAREN_SUFFIX.sub("", label)
    return label.replace("_", " ").strip()


def _find_quote(sentence: str, label: str) -> str | None:
    """The sentence's own spelling of the label, or of its head before a comma."""
    for candidate in (label, label.split(",")[0].strip()):
        if not candidate:
            continue
        at = sentence.casefold().find(candidate.casefold())
        if at >= 0:
            return sentence[at : at + len(candidate)]
    return None


def read_ontology(ontology_path: Path) -> GoldOntology:
    """The ontology's relation and concept labels as its file writes them (the metrics compare
    labels, not UPPER_SNAKE types), each once, in file order."""
    match = _ONTOLOGY_FILE.match(ontology_path.name)
    if not match:
        raise GoldSetFormatError(f"{ontology_path.name}: expected N_<name>_ontology.json")
    data = json.loads(ontology_path.read_text(encoding="utf-8"))
    return GoldOntology(
        name=match.group(2),
        relations=list(dict.fromkeys(str(r["label"]) for r in data["relations"])),
        concepts=list(dict.fromkeys(str(c["label"]) for c in data.get("concepts", []))),
    )


def ontology_vocabulary(ontology: GoldOntology) -> Vocabulary:
    types = tuple(dict.fromkeys(relation_type_name(label) for label in ontology.relations))
    return Vocabulary(name=f"text2kgbench-{ontology.name}", categories={ontology.name: types})


def convert_sentence(record: dict[str, object], ontology: GoldOntology) -> ImportedDocument:
    category = ontology.name
    sentence = str(record["sent"])
    triples = record["triples"]
    if not isinstance(triples, list):
        raise GoldSetFormatError(f"{record.get('id')}: 'triples' must be a list")
    ids: dict[str, str] = {}
    concepts: list[Concept] = []
    instances: list[Instance] = []
    relationships: list[ReferenceRelationship] = []

    def concept_for(raw: str) -> str:
        label = entity_label(raw)
        key = label.casefold()
        if key not in ids:
            ids[key] = f"concept_{len(ids) + 1:03d}"
            concepts.append(
                Concept(
                    concept_id=ids[key],
                    label=label[:80],
                    description="An entity of a Text2KGBench gold triple.",
                    search_terms=[raw[:60]] if raw != label else [],
                )
            )
            quote = _find_quote(sentence, label)
            if quote:
                instances.append(Instance(concept_id=ids[key], quote=quote[:160]))
        return ids[key]

    seen: set[tuple[str, str, str]] = set()
    for triple in triples:
        head, tail = concept_for(triple["sub"]), concept_for(triple["obj"])
        rel_type = relation_type_name(triple["rel"])
        if (head, tail, rel_type) in seen:  # the gold files repeat a few triples
            continue
        seen.add((head, tail, rel_type))
        relationships.append(
            ReferenceRelationship(
                from_concept_id=head,
                to_concept_id=tail,
                relationship_type=rel_type,
                confidence=1.0,
                direction_semantics="outward",
            )
        )
    reference = Reference(
        provenance=provenance(
            "Text2KGBench DBpedia-WebNLG (Mihindukulasooriya et al., 2023; CC BY-SA 4.0)",
            "text2kgbench-dbpedia-train",
        ),
        concepts=concepts,
        instances=instances,
        relationships=relationships,
        gold_triples=[
            GoldTriple(sub=str(t["sub"]), rel=str(t["rel"]), obj=str(t["obj"])) for t in triples
        ],
        ontology=ontology,
    )
    return ImportedDocument(
        category=category, stem=str(record["id"]), text=sentence + "\n", reference=reference
    )


def import_text2kgbench(
    root: Path,
    ontologies: list[str] | None = None,
    limit: int | None = None,
    split: str | None = None,
) -> tuple[list[ImportedDocument], Vocabulary, ImportSummary]:
    """``root`` holds ``ontologies/`` and ``train/`` (or ``test/``); ``limit`` is per ontology.
    ``split``: read that folder's sentences only (a root with both would otherwise give the
    first file found, whichever split it is in)."""
    onto_dir = root / "ontologies"
    if not onto_dir.is_dir():
        raise GoldSetFormatError(f"{root} has no ontologies/ folder (Text2KGBench layout)")
    documents: list[ImportedDocument] = []
    categories: dict[str, tuple[str, ...]] = {}
    summary = ImportSummary()
    for ontology_path in sorted(onto_dir.glob("*_ontology.json")):
        ontology = read_ontology(ontology_path)
        name, vocabulary = ontology.name, ontology_vocabulary(ontology)
        if ontologies and name not in ontologies:
            continue
        number = ontology_path.name.split("_", 1)[0]
        sentence_files = sorted(root.glob(f"{split or '*'}/ont_{number}_{name}_*.jsonl"))
        if not sentence_files:
            summary.skipped.append(f"{name}: no ont_{number}_{name}_*.jsonl file")
            continue
        categories[name] = vocabulary.types
        count = 0
        for line in sentence_files[0].read_text(encoding="utf-8").splitlines():
            if limit is not None and count >= limit:
                break
            if not line.strip():
                continue
            try:
                doc = convert_sentence(json.loads(line), ontology)
            except (KeyError, TypeError, ValueError) as exc:
                summary.skipped.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            documents.append(doc)
            summary.add(doc)
            count += 1
    if not categories:
        raise GoldSetFormatError(f"no matching ontology with sentences under {root}")
    # One category per ontology; a type shared by two ontologies is listed under the first.
    listed: set[str] = set()
    merged: dict[str, tuple[str, ...]] = {}
    for name, types in categories.items():
        fresh = tuple(t for t in types if t not in listed)
        listed.update(fresh)
        if fresh:
            merged[name] = fresh
    vocabulary = Vocabulary(name="text2kgbench", categories=merged)
    return documents, vocabulary, summary
