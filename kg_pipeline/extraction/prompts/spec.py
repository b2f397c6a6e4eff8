"""What one prompt version declares. Each version module builds its entries and the registry
collects them, so nothing else in the pipeline branches on a version's name: a new version is a
new entry, not a new branch in every function that reads one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.contract.vocabulary import Vocabulary

# "full": concepts with ids, instances quoting them, relationships between ids; the answer is an
# ``Extraction`` as it stands. "named": relationships name their ends by label and there are no
# instances; kg_pipeline/extraction/named_answers.py re-points the names to ids before anything
# else reads the answer.
AnswerShape = Literal["full", "named"]


@dataclass(frozen=True)
class PromptSpec:
    """A prompt version: the conversation for a chunk, the decoding schema that holds the answer
    to the shape the prompt shows, the request a gleaning pass sends, and the answer's shape.

    The messages and the schema go together: an example the schema would reject teaches the
    model an answer it cannot write.

    ``asks_confidence`` says whether the prompt asks for a confidence per relationship. Declared
    rather than read from the schema, so the quality report can tell a model that stated none
    from a prompt that never asked: calibration means something only for the first.
    """

    name: str
    # One line for people choosing a version (`kg admin extraction set --prompt-version`'s
    # help is made of them); never sent to a model.
    summary: str
    build_messages: Callable[[str, Vocabulary], PromptMessages]
    decoding_schema: Callable[[Vocabulary], dict[str, Any]]
    gleaning_request: str
    answer_shape: AnswerShape
    asks_confidence: bool
