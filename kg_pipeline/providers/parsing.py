"""Turning a model's text into a validated Extraction.

Lenient on form, strict on content: code fences, prose around the JSON and raw control characters
inside strings (llama.cpp's schema grammar lets newlines through) are forgiven; anything that does
not validate against the schema is reported, never guessed at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from kg_pipeline.contract.schema import Extraction
from kg_pipeline.errors import KgError

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


ParseFailure = Literal["empty", "no_json", "invalid_json", "schema"]
Repair = Literal["code_fence", "surrounding_text", "control_characters", "trailing_commas"]


def _without_trailing_commas(text: str) -> str:
    """Drop commas that directly precede a closing bracket, outside strings."""
    out: list[str] = []
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "," and text[index + 1 :].lstrip()[:1] in {"}", "]"}:
            continue
        out.append(char)
    return "".join(out)


def _repaired(body: str, repairs: list[Repair], error: json.JSONDecodeError) -> Any:
    """Local repairs, cheapest first; each one applied is recorded."""
    attempts: list[tuple[list[Repair], str, bool]] = [
        (["control_characters"], body, False),  # strict=False admits raw newlines and tabs
        (["trailing_commas"], _without_trailing_commas(body), True),
        (["trailing_commas", "control_characters"], _without_trailing_commas(body), False),
    ]
    for applied, candidate, strict in attempts:
        try:
            data = json.loads(candidate, strict=strict)
        except json.JSONDecodeError:
            continue
        repairs.extend(applied)
        return data
    raise OutputParseError(f"invalid JSON: {error}", "invalid_json") from error


class OutputParseError(KgError, ValueError):
    def __init__(self, message: str, kind: ParseFailure) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ParsedOutput:
    extraction: Extraction
    repairs: tuple[Repair, ...]  # what had to be forgiven; empty for clean JSON


def _json_object_text(text: str) -> tuple[str, list[Repair]]:
    repairs: list[Repair] = []
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
        repairs.append("code_fence")
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        raise OutputParseError("no JSON object in the model's answer", "no_json")
    if text[:start].strip() or text[end + 1 :].strip():
        repairs.append("surrounding_text")
    return text[start : end + 1], repairs


def parse_extraction(text: str) -> ParsedOutput:
    if not text.strip():
        raise OutputParseError("the model returned empty content", "empty")
    body, repairs = _json_object_text(text)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as first_error:
        data = _repaired(body, repairs, first_error)
    try:
        return ParsedOutput(Extraction.model_validate(data), tuple(repairs))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OutputParseError(
            f"JSON does not match the extraction schema ({exc.error_count()} errors; "
            f"first at {where or 'top level'}: {first['msg']})",
            "schema",
        ) from exc
