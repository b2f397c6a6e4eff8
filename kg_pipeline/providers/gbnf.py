"""The decoding schema as a llama.cpp grammar (GBNF) that allows only compact JSON.

Both llama.cpp servers take a ``grammar`` field, and both turn a JSON schema into one themselves,
but with different whitespace: llama-server's converter (``common/json-schema-to-grammar.cpp``)
lets the model write a newline and up to 20 spaces or tabs between any two JSON tokens,
llama-cpp-python's (``llama_cpp/llama_grammar.py``) one optional space. A code model indents
its JSON whenever it may: on the same 12 chunks llama-server's schema grammar let the embedded
model write 14,449 output tokens against 5,137 under llama-cpp-python's
(benchmarks/results/end_to_end-embedded-servers.json). Sending the grammar ourselves gives every
llama.cpp server the compact one.

It covers the subset of JSON Schema the extraction schemas use (objects with every property
required and no others, arrays with item bounds, strings with length bounds, string enums,
bounded numbers) and refuses anything else by name rather than constrain decoding less than the
schema says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from kg_pipeline.errors import KgError

# One optional space between tokens, as llama-cpp-python's converter allows.
SPACE = '" "?'
# A JSON string's characters, as both converters write them: no control characters, escapes.
CHAR = r'[^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})'
# A JSON number; "-"? and exponent as in RFC 8259, digits bounded as llama.cpp bounds them.
NUMBER = '"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,16})?'
NON_NEGATIVE = '("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,16})?'
UNIT_INTERVAL = '("0" ("." [0-9]{1,16})? | "1" ("." "0"{1,16})?)'

_HANDLED = {
    "object": {"type", "properties", "required", "additionalProperties"},
    "array": {"type", "items", "minItems", "maxItems"},
    "string": {"type", "minLength", "maxLength", "enum"},
    "number": {"type", "minimum", "maximum"},
}


class UnsupportedSchema(KgError, ValueError):
    """The schema uses JSON Schema this converter does not translate."""


def literal(value: str) -> str:
    """A GBNF string literal matching ``value`` exactly (GBNF escapes as JSON does)."""
    return json.dumps(value, ensure_ascii=False)


class _Grammar:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {"space": SPACE, "char": CHAR}
        self._names: dict[str, str] = {}

    def rule(self, hint: str, body: str) -> str:
        """The name of a rule with ``body``: one rule per distinct body."""
        if body in self._names:
            return self._names[body]
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", hint)  # GBNF rule names
        name, n = base, 1
        while name in self.rules:
            n += 1
            name = f"{base}{n}"
        self.rules[name] = body
        self._names[body] = name
        return name

    def visit(self, schema: dict[str, Any], hint: str) -> str:
        kind = schema.get("type")
        if kind is None and "enum" in schema:
            kind = "string"
        if kind not in _HANDLED:
            raise UnsupportedSchema(f"{hint}: type {kind!r} is not translated to a grammar")
        extra = set(schema) - _HANDLED[kind]
        if extra:
            raise UnsupportedSchema(f"{hint}: {sorted(extra)} not translated to a grammar")
        translate: Callable[[dict[str, Any], str], str] = getattr(self, f"_{kind}")
        return translate(schema, hint)

    def _object(self, schema: dict[str, Any], hint: str) -> str:
        properties: dict[str, Any] = schema.get("properties", {})
        if schema.get("additionalProperties", True) is not False:
            raise UnsupportedSchema(f"{hint}: objects must not allow additional properties")
        if set(schema.get("required", [])) != set(properties):
            raise UnsupportedSchema(f"{hint}: every property must be required")
        members = [
            f'{literal(literal(key))} space ":" space {self.visit(value, f"{hint}-{key}")}'
            for key, value in properties.items()
        ]
        inner = ' "," space '.join(members)
        body = f'"{{" space {inner} "}}" space' if members else '"{" space "}" space'
        return self.rule(hint, body)

    def _array(self, schema: dict[str, Any], hint: str) -> str:
        low = int(schema.get("minItems", 0))
        high = None if schema.get("maxItems") is None else int(schema["maxItems"])
        if high is not None and high < low:
            raise UnsupportedSchema(f"{hint}: maxItems below minItems")
        if high == 0:
            return self.rule(hint, '"[" space "]" space')
        item = self.visit(schema["items"], f"{hint}-item")
        items = item
        if high != 1:
            rest = _repeat(max(low - 1, 0), None if high is None else high - 1)
            items = f'{item} ("," space {item}){rest}'
        body = f'"[" space {items} "]" space' if low else f'"[" space ({items})? "]" space'
        return self.rule(hint, body)

    def _string(self, schema: dict[str, Any], hint: str) -> str:
        if "enum" in schema:
            values = schema["enum"]
            if not all(isinstance(v, str) for v in values) or len(schema) > 2:
                raise UnsupportedSchema(f"{hint}: only enums of strings are translated")
            options = " | ".join(literal(literal(v)) for v in values)
            return self.rule(hint, f"({options}) space")
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        return self.rule(hint, f'"\\"" char{_repeat(low, high)} "\\"" space')

    def _number(self, schema: dict[str, Any], hint: str) -> str:
        bounds = (schema.get("minimum"), schema.get("maximum"))
        if bounds == (0, 1):
            body = UNIT_INTERVAL
        elif bounds[1] is None and bounds[0] is not None and bounds[0] >= 0:
            body = NON_NEGATIVE  # a lower bound above 0 is left to validation
        elif bounds == (None, None):
            body = NUMBER
        else:
            raise UnsupportedSchema(f"{hint}: number bounds {bounds} not translated")
        return self.rule(hint, f"{body} space")


def _repeat(low: int, high: int | None) -> str:
    if high is None:
        return "*" if low == 0 else f"{{{low},}}"
    return f"{{{low},{int(high)}}}"


@lru_cache(maxsize=32)
def _cached(schema_json: str) -> str:
    grammar = _Grammar()
    root = grammar.visit(json.loads(schema_json), "root")
    lines = [f"root ::= {root}"] if root != "root" else []
    lines += [f"{name} ::= {body}" for name, body in grammar.rules.items()]
    return "\n".join(lines) + "\n"


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    """GBNF for ``schema`` that admits exactly its compact JSON documents (one optional space
    between tokens). Raises UnsupportedSchema for what it cannot translate faithfully."""
    return _cached(json.dumps(schema, sort_keys=False))
