"""The embedded model for real: assembled from its PyPI packages, served by llama-cpp-python's
OpenAI-compatible server, and reached through the same provider as vLLM."""

import asyncio

import pytest

from kg_pipeline.local_model import MODEL_ALIAS, ensure_model, verify_model
from kg_pipeline.local_server import LocalServer
from kg_pipeline.prompts import build_messages
from kg_pipeline.providers import EndpointSettings, OpenAICompatibleProvider
from kg_pipeline.schema import extraction_json_schema

pytestmark = pytest.mark.real_model

TEXT = "Photosynthesis converts sunlight into chemical energy. Chlorophyll absorbs the light."


def test_model_is_assembled_from_its_packages_with_the_published_checksum() -> None:
    path = ensure_model()
    assert verify_model(path)


def test_server_status_reports_the_model_and_start_is_idempotent(
    embedded_server: LocalServer,
) -> None:
    status = embedded_server.status()
    assert status.answering and status.models == [MODEL_ALIAS]
    assert status.pid is not None
    again = embedded_server.start()
    assert again.pid == status.pid  # the running server was reused, not doubled


def test_stopped_server_reports_not_running(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = LocalServer(port=1, state_dir=tmp_path_factory.mktemp("none"))
    assert not server.status().answering
    assert "kg local start" in server.status().describe()
    assert server.stop() is False


def test_real_llamacpp_extraction_with_dialect_detection(embedded_server: LocalServer) -> None:
    # "openai_compatible" + auto: the first request offers json_schema, which llama-cpp-python
    # rejects with HTTP 500; the provider must switch to json_object + schema and succeed.
    provider = OpenAICompatibleProvider(
        EndpointSettings(
            name="local",
            provider="openai_compatible",
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
    assert provider.dialect == "json_object_schema"
    assert result.extraction.concepts, "the decoding schema requires at least one concept"
    assert result.stats.finish_reason == "stop"
    assert result.stats.prompt_tokens and result.stats.prompt_tokens > 500
    assert result.stats.completion_tokens and result.stats.completion_tokens < 4096
