"""Versioned extraction prompts: one registry entry per version (``registry``), its messages,
decoding schema, gleaning request and answer shape declared in the module of its family (``v1``,
``v2_v3``, ``v4_v5_v6``), the wording they share in ``wording``.

Everything fixed (role, rules, vocabulary, examples) comes first and the chunk comes last, so a
server's prefix cache reuses the whole system prompt from one chunk to the next. Any change to a
version's wording must be a new version: its name is stored with every extraction, and scores
from different prompt versions are never pooled.
"""

from kg_pipeline.extraction.prompts.registry import (
    NAMED_VERSIONS,
    PROMPT_SPECS,
    PROMPTS,
    answer_shape,
    asks_confidence,
    build_messages,
    decoding_schema,
    gleaning_request,
    prompt_spec,
)
from kg_pipeline.extraction.prompts.spec import AnswerShape, PromptSpec

__all__ = [
    "NAMED_VERSIONS",
    "PROMPTS",
    "PROMPT_SPECS",
    "AnswerShape",
    "PromptSpec",
    "answer_shape",
    "asks_confidence",
    "build_messages",
    "decoding_schema",
    "gleaning_request",
    "prompt_spec",
]
