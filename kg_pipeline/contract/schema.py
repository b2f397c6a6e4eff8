"""The extraction contract: what a model must return for one chunk, and the JSON schema it receives.

Field names and shapes match the system this project replaces, so its stored extractions and our
reference files load unchanged. The pydantic models are the one definition: validation, the JSON
schema sent for constrained decoding, and scoring all derive from them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, Vocabulary


class DirectionSemantics(StrEnum):
    OUTWARD = "outward"
    INWARD = "inward"
    BIDIRECTIONAL = "bidirectional"


@dataclass(frozen=True)
class SchemaBounds:
    """Upper bounds placed in the JSON schema.

    Small models under constrained decoding keep emitting array items or string characters until
    the token cap when nothing stops them; these bounds end every answer well inside the output
    budget: 12 concepts x ~70 tokens + 20 instances x ~45 + 12 relationships x ~45 is ~2.3k tokens,
    well under the 4096-token budget, with room for JSON punctuation.
    """

    max_concepts: int = 12
    max_instances: int = 20
    max_relationships: int = 12
    max_search_terms: int = 5
    max_id_length: int = 20
    max_label_length: int = 80
    max_description_length: int = 160
    max_search_term_length: int = 60
    max_quote_length: int = 160


DEFAULT_BOUNDS = SchemaBounds()
# Validation accepts up to these (the pydantic model's limits); each prompt version's decoding
# schema asks for no more than its own bounds, which lie within them. Keeping the two apart lets a
# prompt ask for more items and shorter strings without rejecting answers to the other.
# Sized for a first pass and three gleaning passes merged into one record (4 x 16 items), which
# must read back from storage: records are validated when loaded.
CEILING = SchemaBounds(
    max_concepts=64,
    max_instances=80,
    max_relationships=64,
    max_search_terms=16,
)
_B = CEILING


class _Lenient(BaseModel):
    # Models sometimes add keys of their own; they are ignored rather than failing the chunk.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Concept(_Lenient):
    concept_id: str = Field(min_length=1, max_length=_B.max_id_length, examples=["concept_001"])
    label: str = Field(min_length=1, max_length=_B.max_label_length)
    description: str = Field(max_length=_B.max_description_length)
    search_terms: list[Annotated[str, Field(max_length=_B.max_search_term_length)]] = Field(
        default_factory=list, max_length=_B.max_search_terms
    )


class Instance(_Lenient):
    concept_id: str = Field(min_length=1, max_length=_B.max_id_length)
    quote: str = Field(min_length=1, max_length=_B.max_quote_length)


class Relationship(_Lenient):
    # A concept id. An answer in the named shape (prompt kg-extract-v4) writes head, type and
    # tail instead, naming concepts by label, so endpoints admit a label's length until
    # kg_pipeline/extraction/named_answers.py re-points them to ids.
    from_concept_id: str = Field(
        min_length=1,
        max_length=_B.max_label_length,
        validation_alias=AliasChoices("from_concept_id", "head"),
    )
    to_concept_id: str = Field(
        min_length=1,
        max_length=_B.max_label_length,
        validation_alias=AliasChoices("to_concept_id", "tail"),
    )
    # A plain string here: types outside the offered vocabulary are kept so that quality scoring
    # can count them as hallucinations; the schema sent to the model carries the enum.
    relationship_type: str = Field(
        min_length=1, max_length=64, validation_alias=AliasChoices("relationship_type", "type")
    )
    # None: not asked for. Prompt kg-extract-v4 leaves it out: the 0.5B model it was measured on
    # wrote its examples' figures, and its answers were 57 % longer when asked for it
    # (kg_pipeline/extraction/prompts/v4_v5_v6.py). Calibration counts stated confidences only.
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    direction_semantics: DirectionSemantics = DirectionSemantics.OUTWARD


class Extraction(_Lenient):
    concepts: list[Concept] = Field(default_factory=list, max_length=_B.max_concepts)
    instances: list[Instance] = Field(default_factory=list, max_length=_B.max_instances)
    relationships: list[Relationship] = Field(default_factory=list, max_length=_B.max_relationships)

    @field_validator("concepts", mode="before")
    @classmethod
    def _labels_as_concepts(cls, value: Any) -> Any:
        """A concept written as its label alone (prompt kg-extract-v6's bare shape) gets the next
        free id c1, c2, ... and no description: ids and kinds were a quarter of v5's output
        tokens, and its relationships name concepts by label, not id. A blank label names
        nothing and is dropped, rather than failing the chunk's every other concept."""
        if not isinstance(value, list) or not any(isinstance(item, str) for item in value):
            return value
        taken = {item.get("concept_id") for item in value if isinstance(item, dict)}
        concepts: list[Any] = []
        n = 0
        for item in value:
            if isinstance(item, str):
                if not item.strip():
                    continue
                n += 1
                while f"c{n}" in taken:
                    n += 1
                concepts.append({"concept_id": f"c{n}", "label": item, "description": ""})
            else:
                concepts.append(item)
        return concepts


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``$ref`` with the referenced definition: not every grammar converter follows refs."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _inline_refs(copy.deepcopy(defs[name]), defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


_NOISE_KEYWORDS = frozenset({"title", "examples", "default", "description"})


def _strip_noise(node: Any) -> Any:
    """Drop titles/examples/defaults: they cost prompt tokens and some servers reject them."""
    if isinstance(node, dict):
        return {
            k: (
                {name: _strip_noise(sub) for name, sub in v.items()}  # property names stay
                if k == "properties"
                else _strip_noise(v)
            )
            for k, v in node.items()
            if k not in _NOISE_KEYWORDS
        }
    if isinstance(node, list):
        return [_strip_noise(v) for v in node]
    return node


def _close_objects(node: Any) -> None:
    """Every object lists all its properties as required and allows no others.

    Constrained decoders then emit the whole shape in a fixed order, and OpenAI's strict structured
    output accepts the schema.
    """
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def _apply_bounds(schema: dict[str, Any], bounds: SchemaBounds) -> None:
    props = schema["properties"]
    concept = props["concepts"]["items"]["properties"]
    props["concepts"]["maxItems"] = bounds.max_concepts
    props["instances"]["maxItems"] = bounds.max_instances
    props["relationships"]["maxItems"] = bounds.max_relationships
    concept["search_terms"]["maxItems"] = bounds.max_search_terms
    concept["search_terms"]["items"]["maxLength"] = bounds.max_search_term_length
    concept["label"]["maxLength"] = bounds.max_label_length
    concept["description"]["maxLength"] = bounds.max_description_length
    props["instances"]["items"]["properties"]["quote"]["maxLength"] = bounds.max_quote_length
    for key in ("concepts", "instances", "relationships"):
        for field_name, node in props[key]["items"]["properties"].items():
            if field_name.endswith("concept_id"):
                node["maxLength"] = bounds.max_id_length


def _constrain_ids(schema: dict[str, Any], ids: list[str]) -> None:
    """Every concept id field may only take the given ids: a relationship can then only point
    at an id the answer can define, and the ids cost the model no characters to invent."""
    props = schema["properties"]
    for key in ("concepts", "instances", "relationships"):
        for field_name, node in props[key]["items"]["properties"].items():
            if field_name.endswith("concept_id"):
                node.clear()
                node.update({"type": "string", "enum": list(ids)})


def _name_endpoints(schema: dict[str, Any], bounds: SchemaBounds) -> None:
    props = schema["properties"]
    del props["instances"]
    del props["concepts"]["items"]["properties"]["search_terms"]
    old = props["relationships"]["items"]["properties"]
    # An empty name would fail validation (and then the whole chunk), so the grammar forbids it.
    label = {"type": "string", "minLength": 1, "maxLength": bounds.max_label_length}
    new = {"head": label, "type": old.pop("relationship_type"), "tail": dict(label)}
    del old["from_concept_id"], old["to_concept_id"]
    props["relationships"]["items"]["properties"] = new | old


def _bare_concepts(schema: dict[str, Any], bounds: SchemaBounds) -> None:
    concepts = schema["properties"]["concepts"]
    concepts["items"] = {"type": "string", "minLength": 1, "maxLength": bounds.max_label_length}


def extraction_json_schema(
    vocabulary: Vocabulary = BASE_VOCABULARY,
    bounds: SchemaBounds = DEFAULT_BOUNDS,
    concept_ids: list[str] | None = None,
    omit: frozenset[str] = frozenset(),
    *,
    named: bool = False,
    bare: bool = False,
) -> dict[str, Any]:
    """The JSON schema for constrained decoding: self-contained, bounded, vocabulary as enum.

    ``bounds`` must lie within ``CEILING``, or valid decodings would fail validation. ``omit``
    names relationship fields the model is not to write (each must have a default): every
    property is required, so a field the prompt fixes would otherwise cost tokens on every item.

    ``named`` asks for the named shape (prompt kg-extract-v4): no instances and no search terms
    (each concept's label, which must occur in the text, is its quote), and relationships as
    head, type, tail naming concepts by label. A small model writing ids copies its example's
    id pattern whatever the text says; a name it has to write is the entity itself.

    ``bare`` (with ``named``; prompt kg-extract-v6) lists concepts as their labels alone: in the
    named shape nothing refers to a concept's id, so ids and kinds only cost output tokens.
    """
    if bare and not named:
        raise ValueError("bare concepts need the named shape: relationships must name labels")
    for name, value in vars(bounds).items():
        if value > getattr(CEILING, name):
            raise ValueError(f"schema bound {name}={value} exceeds the validation limit")
    raw = Extraction.model_json_schema()
    schema: dict[str, Any] = _strip_noise(_inline_refs(raw, raw.get("$defs", {})))
    _apply_bounds(schema, bounds)
    if concept_ids is not None:
        _constrain_ids(schema, concept_ids)
    rel_props = schema["properties"]["relationships"]["items"]["properties"]
    # Optional in the model so that a prompt may leave it out; a number whenever it is asked.
    rel_props["confidence"] = {"type": "number", "minimum": 0.0, "maximum": 1.0}
    for name in omit:
        if Relationship.model_fields[name].is_required():
            raise ValueError(f"relationship field {name} has no default and cannot be omitted")
        del rel_props[name]
    rel_props["relationship_type"] = {"type": "string", "enum": list(vocabulary.types)}
    if named:
        _name_endpoints(schema, bounds)
    if bare:
        _bare_concepts(schema, bounds)
    # Small models under a grammar take the shortest path, an empty array, unless made to list
    # something. Only the decoding schema asks for it: an empty answer still validates.
    for key in ("concepts", "instances"):
        if key in schema["properties"]:
            schema["properties"][key]["minItems"] = 1
    _close_objects(schema)
    return schema
