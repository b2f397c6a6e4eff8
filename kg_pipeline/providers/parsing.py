"""Turning a model's text into a validated Extraction.

Lenient on form, strict on content: code fences, prose around the JSON and raw control characters
inside strings (llama.cpp's schema grammar lets newlines through) are forgiven; anything that does
not validate against the schema is reported, never guessed at.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from kg_pipeline.schema import Extraction

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


class OutputParseError(ValueError):
    pass


def _json_object_text(text: str) -> str:
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        raise OutputParseError("no JSON object in the model's answer")
    return text[start : end + 1]


def parse_extraction(text: str) -> Extraction:
    if not text.strip():
        raise OutputParseError("the model returned empty content")
    try:
        # strict=False admits raw control characters (newlines, tabs) inside strings.
        data = json.loads(_json_object_text(text), strict=False)
    except json.JSONDecodeError as exc:
        raise OutputParseError(f"invalid JSON: {exc}") from exc
    try:
        return Extraction.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OutputParseError(
            f"JSON does not match the extraction schema ({exc.error_count()} errors; "
            f"first at {where or 'top level'}: {first['msg']})"
        ) from exc
