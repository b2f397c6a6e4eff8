"""Relationship-type vocabularies.

The vocabulary is sent to the model as an enum in the JSON schema, so constrained decoding can only
produce offered types; quality scoring later measures how accuracy changes as the vocabulary grows
(30, 60, 90 types), which is why custom vocabularies load from plain files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from kg_pipeline.errors import KgError

BASE_CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "logical_truth": ("IMPLIES", "CONTRADICTS", "PRESUPPOSES", "EQUIVALENT_TO"),
    "causal": ("CAUSES", "ENABLES", "PREVENTS", "INFLUENCES", "RESULTS_FROM"),
    "structural": ("PART_OF", "CONTAINS", "COMPOSED_OF", "SUBSET_OF", "INSTANCE_OF"),
    "evidential": ("SUPPORTS", "REFUTES", "EXEMPLIFIES", "MEASURED_BY"),
    "similarity": ("SIMILAR_TO", "ANALOGOUS_TO", "CONTRASTS_WITH", "OPPOSITE_OF"),
    "temporal": ("PRECEDES", "CONCURRENT_WITH", "EVOLVES_INTO"),
    "functional": ("USED_FOR", "REQUIRES", "PRODUCES", "REGULATES"),
    "meta": ("DEFINED_AS", "CATEGORIZED_AS"),
}


class VocabularyError(KgError, ValueError):
    """A vocabulary file is unreadable or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Vocabulary:
    """An ordered set of relationship types, grouped in categories."""

    name: str
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Finer type -> the base type it refines, so that scores at 60 or 90 types can be folded back
    # onto the 31 base types and compared.
    refines: Mapping[str, str] = field(default_factory=dict)
    # One line per type saying what it means and which way it points (head -> tail): small
    # models pick types by their names alone far less reliably than by a definition.
    definitions: Mapping[str, str] = field(default_factory=dict)
    # The kinds of entity a data set annotates, offered as hints so that a model lists the
    # dates, numbers and nationalities the gold set counts, not only the obvious nouns.
    entity_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for category, types in self.categories.items():
            for rel_type in types:
                if not rel_type or rel_type != rel_type.strip():
                    raise VocabularyError(f"vocabulary {self.name!r}: empty type in {category!r}")
                if rel_type in seen:
                    raise VocabularyError(f"vocabulary {self.name!r}: {rel_type} listed twice")
                seen.add(rel_type)
        if not seen:
            raise VocabularyError(f"vocabulary {self.name!r} has no relationship types")
        for finer, base in self.refines.items():
            if finer not in seen or base not in BASE_TYPES:
                raise VocabularyError(
                    f"vocabulary {self.name!r}: {finer} -> {base} must map one of its types "
                    "onto a base type"
                )
        undefined = [t for t in self.definitions if t not in seen]
        if undefined:
            raise VocabularyError(
                f"vocabulary {self.name!r} defines types it does not list: {', '.join(undefined)}"
            )

    @cached_property
    def types(self) -> tuple[str, ...]:
        return tuple(t for types in self.categories.values() for t in types)

    @cached_property
    def _type_set(self) -> frozenset[str]:
        return frozenset(self.types)

    def __contains__(self, rel_type: object) -> bool:
        return rel_type in self._type_set

    def __iter__(self) -> Iterator[str]:
        return iter(self.types)

    def __len__(self) -> int:
        return len(self.types)

    def to_base(self, rel_type: str) -> str:
        """The base type a type stands for (itself when it is a base type or unknown)."""
        return self.refines.get(rel_type, rel_type)

    def category_of(self, rel_type: str) -> str | None:
        for category, types in self.categories.items():
            if rel_type in types:
                return category
        return None


BASE_TYPES = frozenset(t for types in BASE_CATEGORIES.values() for t in types)
BASE_VOCABULARY = Vocabulary(name="base31", categories=BASE_CATEGORIES)
_PACKAGED = Path(__file__).with_name("vocabularies")


def named_vocabulary(name: str) -> Vocabulary:
    """``base31``, or a packaged vocabulary: ``kg60``, ``kg90``, ``redocred``."""
    if name == BASE_VOCABULARY.name:
        return BASE_VOCABULARY
    path = _PACKAGED / f"{name}.json"
    if not path.is_file():
        raise VocabularyError(f"no vocabulary named {name!r}; known: {', '.join(known_names())}")
    return load_vocabulary(path)


def known_names() -> list[str]:
    """The vocabularies that can be named rather than given by file."""
    return sorted([BASE_VOCABULARY.name, *(p.stem for p in _PACKAGED.glob("*.json"))])


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Load a vocabulary from JSON: ``{"name": ..., "categories": {category: [TYPE, ...]}}``.

    A bare list of types is accepted too (one category, ``custom``), because most published
    relation inventories are flat lists.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VocabularyError(f"cannot read vocabulary file {file}: {exc}") from exc
    if isinstance(data, list):
        data = {"name": file.stem, "categories": {"custom": data}}
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise VocabularyError(
            f"{file}: expected a JSON list of types or an object with 'categories'"
            " mapping category names to lists of types"
        )
    categories: dict[str, tuple[str, ...]] = {}
    for category, types in data["categories"].items():
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise VocabularyError(f"{file}: category {category!r} must be a list of strings")
        categories[str(category)] = tuple(t.strip().upper() for t in types)
    refines = data.get("refines", {})
    if not isinstance(refines, dict):
        raise VocabularyError(f"{file}: 'refines' must map finer types to base types")
    definitions = data.get("definitions", {})
    if not isinstance(definitions, dict) or not all(
        isinstance(v, str) for v in definitions.values()
    ):
        raise VocabularyError(f"{file}: 'definitions' must map types to one-line definitions")
    entity_types = data.get("entity_types", [])
    if not isinstance(entity_types, list) or not all(isinstance(t, str) for t in entity_types):
        raise VocabularyError(f"{file}: 'entity_types' must be a list of strings")
    return Vocabulary(
        name=str(data.get("name", file.stem)),
        categories=categories,
        refines={str(k).upper(): str(v).upper() for k, v in refines.items()},
        definitions={str(k).upper(): v.strip() for k, v in definitions.items()},
        entity_types=tuple(entity_types),
    )


def resolve_vocabulary(spec: str | None) -> Vocabulary:
    """A packaged vocabulary by name (base31, kg60, kg90, redocred), a JSON file by path, or
    base31."""
    if not spec:
        return BASE_VOCABULARY
    if (_PACKAGED / f"{spec}.json").is_file() or spec == BASE_VOCABULARY.name:
        return named_vocabulary(spec)
    if not Path(spec).exists():
        raise VocabularyError(
            f"no vocabulary named {spec!r} and no such file; give one of "
            f"{', '.join(known_names())} or the path of a JSON vocabulary file"
        )
    return load_vocabulary(spec)
