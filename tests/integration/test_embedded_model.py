"""The embedded model for real: assembled from its PyPI packages, served by llama.cpp's own
llama-server (built by set-up) and reached through the same provider as vLLM."""

import asyncio
from pathlib import Path

import httpx
import pytest

from kg_pipeline.contract.messages import PROMPT_VERSIONS
from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.contract.vocabulary import BASE_VOCABULARY, known_names, named_vocabulary
from kg_pipeline.extraction.prompts import build_messages, v1, v2_v3, v4_v5_v6
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.serving.local_model import MODEL_ALIAS, ensure_model, verify_model
from kg_pipeline.serving.local_server import DEFAULT_SLOTS, LocalServer

pytestmark = pytest.mark.real_model

TEXT = "Photosynthesis converts sunlight into chemical energy. Chlorophyll absorbs the light."
CORPUS = Path(__file__).resolve().parents[2] / "test_corpus"


def test_model_is_assembled_from_its_packages_with_the_published_checksum() -> None:
    path = ensure_model()
    assert verify_model(path)


def test_server_status_reports_the_model_its_slots_and_start_is_idempotent(
    embedded_server: LocalServer,
) -> None:
    status = embedded_server.status()
    assert status.answering and status.models == [MODEL_ALIAS]
    assert status.pid is not None
    assert status.slots == DEFAULT_SLOTS and status.busy_slots == 0
    again = embedded_server.start()
    assert again.pid == status.pid  # the running server was reused, not doubled


def test_stopped_server_reports_not_running(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = LocalServer(port=1, state_dir=tmp_path_factory.mktemp("none"))
    assert not server.status().answering
    assert "kg local start" in server.status().describe()
    assert server.stop() is False


def test_llama_server_takes_the_compact_grammar_and_the_answer_is_not_indented(
    embedded_server: LocalServer,
) -> None:
    # "llamacpp" sends the schema as a grammar of compact JSON; under llama-server's own
    # conversion of the schema this model indents its answer (newlines and spaces, tokens each).
    provider = OpenAICompatibleProvider(
        EndpointSettings(
            name="local",
            provider="llamacpp",
            base_url=embedded_server.base_url,
            model=MODEL_ALIAS,
            timeout_seconds=600,
        )
    )

    async def run():  # type: ignore[no-untyped-def]
        try:
            return await provider.extract(build_messages(TEXT), extraction_json_schema())
        finally:
            await provider.aclose()

    result = asyncio.run(run())
    assert provider.dialect == "gbnf"
    assert "\n" not in result.stats.raw_text  # JSON strings cannot hold a raw newline
    assert result.extraction.concepts, "the decoding schema requires at least one concept"
    assert result.stats.finish_reason == "stop"
    assert result.stats.prompt_tokens and result.stats.prompt_tokens > 500
    assert result.stats.completion_tokens and result.stats.completion_tokens < 4096


def _densest_chunk(words: int = 1500) -> str:
    """The 1500 words of corpus text (the chunker's maximum) that tokenize the longest: the
    technical documents, with code and numbers, cost the most tokens per word."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("technical/*.md")))
    return " ".join(text.split()[:words])


def test_every_prompt_version_fits_one_slot_with_its_output_budget(
    embedded_server: LocalServer,
) -> None:
    # llama-server splits --ctx-size evenly across its slots; a request longer than its slot's
    # share fails. Counted by the server's own template and tokenizer, without decoding.
    base = embedded_server.base_url
    slot_context = httpx.get(f"{base}/slots", timeout=10).json()[0]["n_ctx"]
    assert slot_context == embedded_server.slot_context_tokens
    chunk = _densest_chunk()
    builders = {
        "kg-extract-v1": v1.build_messages_v1, "kg-extract-v2": v2_v3.build_messages_v2,
        "kg-extract-v3": v2_v3.build_messages_v3, "kg-extract-v4": v4_v5_v6.build_messages_v4,
        "kg-extract-v5": v4_v5_v6.build_messages_v5, "kg-extract-v6": v4_v5_v6.build_messages_v6,
    }  # fmt: skip
    assert set(builders) == set(PROMPT_VERSIONS), "a new prompt version: add it here"
    vocabularies = [BASE_VOCABULARY, *(named_vocabulary(name) for name in known_names())]
    longest = 0
    for build in builders.values():
        for vocabulary in vocabularies:
            messages = build(chunk, vocabulary).chat()
            prompt = httpx.post(f"{base}/apply-template", json={"messages": messages}, timeout=30)
            tokens = httpx.post(f"{base}/tokenize", json={"content": prompt.json()["prompt"]},
                                timeout=30).json()["tokens"]  # fmt: skip
            longest = max(longest, len(tokens))
    budget = DEFAULT_ENDPOINT.output_budget  # the embedded model does not think: 4096
    assert longest + budget <= slot_context, f"{longest} prompt + {budget} output tokens"
