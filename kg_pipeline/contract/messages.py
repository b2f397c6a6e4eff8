"""What every stage says about a prompt: the version names stored with each extraction, and the
conversation sent for one chunk. Providers send it, middleware passes it on, the prompts module
fills it; none of them needs the prompt texts to speak it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

PROMPT_VERSION = "kg-extract-v1"

# For small models; compared with v1 in benchmarks/redocred_quality.py.
PROMPT_V2 = "kg-extract-v2"

# v2 with a denser example and a leaner answer.
PROMPT_V3 = "kg-extract-v3"

# Concepts and relationships named by label, three examples.
PROMPT_V4 = "kg-extract-v4"

# v4 with the relationship types named, not defined: a shorter prefix.
PROMPT_V5 = "kg-extract-v5"

# v4 with a bare answer: concepts as labels only, compact JSON.
PROMPT_V6 = "kg-extract-v6"

# Each name has exactly one entry in the prompt registry (kg_pipeline/extraction/prompts/), which
# declares its messages, decoding schema, gleaning request and answer shape.
PromptVersion = Literal[
    "kg-extract-v1",
    "kg-extract-v2",
    "kg-extract-v3",
    "kg-extract-v4",
    "kg-extract-v5",
    "kg-extract-v6",
]

PROMPT_VERSIONS: tuple[str, ...] = get_args(PromptVersion)


@dataclass(frozen=True)
class PromptMessages:
    """The conversation sent for one chunk.

    The filled example is a separate user/assistant exchange rather than text inside the system
    prompt: small models copy example content into their answer far less when the example is a
    finished earlier turn.
    """

    system: str
    example_user: str
    example_assistant: str
    user: str
    version: str = PROMPT_VERSION
    # Earlier (text, answer) example exchanges, before the one above: with several examples a
    # small model has no single answer to copy.
    examples: tuple[tuple[str, str], ...] = ()
    # (rejected answer, what was wrong with it): a re-ask shows the model its own mistake.
    corrections: tuple[tuple[str, str], ...] = ()
    # (accepted answer, next request): a gleaning pass asks for what that answer missed.
    followups: tuple[tuple[str, str], ...] = ()

    def chat(self) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.system}]
        for text, answer in self.examples:
            messages.append({"role": "user", "content": text})
            messages.append({"role": "assistant", "content": answer})
        if self.example_user:  # a prompt version may go without an example
            messages.append({"role": "user", "content": self.example_user})
            messages.append({"role": "assistant", "content": self.example_assistant})
        messages.append({"role": "user", "content": self.user})
        for answer, request in self.followups:
            messages.append({"role": "assistant", "content": answer})
            messages.append({"role": "user", "content": request})
        for answer, problem in self.corrections:
            messages.append({"role": "assistant", "content": answer})
            messages.append(
                {
                    "role": "user",
                    "content": f"That answer is not valid: {problem}. Answer again with one "
                    "JSON object in the required shape, and nothing else.",
                }
            )
        return messages

    def with_correction(self, answer: str, problem: str) -> PromptMessages:
        return replace(self, corrections=(*self.corrections, (answer, problem)))

    def with_followup(self, answer: str, request: str) -> PromptMessages:
        return replace(self, followups=(*self.followups, (answer, request)), corrections=())

    @property
    def text(self) -> str:
        """All message text, for sizing the context window."""
        return "".join(m["content"] for m in self.chat())
