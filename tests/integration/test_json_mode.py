"""`supports_json_mode`: a model registered without a JSON mode gets no constrained decoding
(servers reject the parameter, or the model ignores it); the schema stays in the prompt and the
answer is repaired and validated as always."""

import asyncio
import json

import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.providers import create_provider
from kg_pipeline.store.config import ModelConfig
from tests.stand_in_server import Reply, StandInServer

EXTRACTION = {
    "concepts": [{"concept_id": "concept_001", "label": "lock", "description": "A gate.",
                  "search_terms": []}],
    "instances": [{"concept_id": "concept_001", "quote": "lock"}],
    "relationships": [],
}  # fmt: skip
OPENAI = Reply(
    body={
        "choices": [{"message": {"content": "```json\n" + json.dumps(EXTRACTION) + "\n```"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 9},
    }
)  # fmt: skip
OLLAMA = Reply(
    body={"message": {"role": "assistant", "content": json.dumps(EXTRACTION)}, "done": True,
          "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 9}
)  # fmt: skip


@pytest.mark.parametrize("supports_json_mode", [True, False])
@pytest.mark.parametrize(
    ("provider", "path", "reply", "field"),
    [("vllm", "/v1/chat/completions", OPENAI, "response_format"),
     ("ollama", "/api/chat", OLLAMA, "format")],
)  # fmt: skip
def test_the_schema_constrains_decoding_only_when_the_model_has_a_json_mode(
    provider: str, path: str, reply: Reply, field: str, supports_json_mode: bool
) -> None:
    with StandInServer() as server:
        server.reply("POST", path, reply)
        config = ModelConfig(
            name="m", provider=provider, model_name="m", base_url=server.base_url,  # type: ignore[arg-type]
            supports_json_mode=supports_json_mode,
            options={"structured_output": "json_schema"} if provider == "vllm" else {},  # type: ignore[arg-type]
        )  # fmt: skip
        extractor = create_provider(config.settings())

        async def extract() -> object:
            try:
                return await extractor.extract(build_messages("A lock."), extraction_json_schema())
            finally:
                await extractor.aclose()

        result = asyncio.run(extract())
    [request] = server.requests
    assert (field in request.body) is supports_json_mode
    assert result.extraction.concepts[0].label == "lock"  # type: ignore[attr-defined]
