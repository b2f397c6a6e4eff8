"""What a server has loaded, unloading and preloading, against loopback servers speaking Ollama's
API (/api/ps, /api/chat) and the OpenAI-compatible one (/v1/models)."""

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from kg_pipeline.defs.model_observations import observe_status
from kg_pipeline.providers import EndpointSettings, OllamaProvider, OpenAICompatibleProvider
from kg_pipeline.providers.base import ProviderUnavailable
from kg_pipeline.providers.loaded import NOT_REPORTED
from kg_pipeline.providers.openai_compatible import kv_cache_usage
from kg_pipeline.serving.model_status import endpoint_status, is_local, status_lines, switch
from kg_pipeline.store.config import ModelConfig
from tests.stand_in_server import Reply, StandInServer, chat_completion

GIB = 1024**3
# /api/ps as Ollama answers it (docs.ollama.com/api/ps): qwen3 mostly in VRAM, an embedding model
# entirely on the CPU.
PS = Reply(
    body={
        "models": [
            {"name": "qwen3:8b", "model": "qwen3:8b", "size": 6 * GIB, "digest": "a2af6cc3eb7f",
             "details": {"parent_model": "", "format": "gguf", "family": "qwen3",
                         "families": ["qwen3"], "parameter_size": "8.2B",
                         "quantization_level": "Q4_K_M"},
             "expires_at": "2026-03-01T12:10:00.123456789Z", "size_vram": 5 * GIB,
             "context_length": 8192},
            {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest",
             "size": 300_000_000, "digest": "0a109f422b47", "details": {"format": "gguf"},
             "expires_at": "2026-03-01T12:05:00Z", "size_vram": 0, "context_length": 2048},
        ]
    }
)  # fmt: skip
UNLOADED = Reply(
    body={"model": "qwen3:8b", "created_at": "2026-03-01T12:00:00Z",
          "message": {"role": "assistant", "content": ""}, "done_reason": "unload", "done": True}
)  # fmt: skip
LOADED = Reply(
    body={"model": "qwen3:8b", "created_at": "2026-03-01T12:00:01Z",
          "message": {"role": "assistant", "content": ""}, "done_reason": "load", "done": True}
)  # fmt: skip
# vLLM's /v1/models: one model, with its context limit.
VLLM_MODELS = Reply(
    body={"object": "list", "data": [{"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model",
          "owned_by": "vllm", "root": "Qwen/Qwen2.5-7B-Instruct", "max_model_len": 32768}]}
)  # fmt: skip
# llama.cpp's llama-server in router mode: the weights' size under meta; one model not loaded.
LLAMACPP_MODELS = Reply(
    body={"object": "list", "data": [
        {"id": "qwen2.5-coder-0.5b", "object": "model", "owned_by": "llamacpp",
         "meta": {"n_ctx_train": 32768, "n_params": 494032768, "size": 397_808_192},
         "status": {"value": "loaded"}},
        {"id": "gemma-3-4b", "object": "model", "owned_by": "llamacpp",
         "status": {"value": "unloaded"}},
    ]}
)  # fmt: skip


@pytest.fixture
def ollama() -> Iterator[StandInServer]:
    with StandInServer() as server:
        server.reply("GET", "/api/ps", PS)
        server.reply("POST", "/api/chat", UNLOADED)
        yield server


def config(
    name: str, base_url: str, provider: str = "ollama", model: str = "qwen3:8b"
) -> ModelConfig:
    return ModelConfig(name=name, provider=provider, model_name=model, base_url=base_url)


def settings(base_url: str, provider: str = "ollama", model: str = "qwen3:8b") -> EndpointSettings:
    return EndpointSettings(name="e", provider=provider, base_url=base_url, model=model)


def chats(server: StandInServer) -> list[Any]:
    return [r.body for r in server.requests if r.path == "/api/chat"]


def test_ollama_status_reports_each_loaded_model_with_size_vram_and_expiry(
    ollama: StandInServer,
) -> None:
    status = asyncio.run(endpoint_status(config("q", ollama.base_url)))

    assert status.answering
    (server,) = status.servers
    qwen, embed = server.loaded
    assert (qwen.name, qwen.size_bytes, qwen.vram_bytes, qwen.context_length) == (
        "qwen3:8b", 6 * GIB, 5 * GIB, 8192,
    )  # fmt: skip
    # Go's nanoseconds are cut to Python's microseconds; the zone is kept.
    assert qwen.expires_at == dt.datetime(2026, 3, 1, 12, 10, 0, 123456, tzinfo=dt.UTC)
    assert embed.vram_bytes == 0  # on the CPU: reported as 0, which is not "unknown"
    assert status.configured() == [qwen]
    # A loopback server is on this machine: its GPUs are read, or the reason they cannot be.
    assert status.gpus or status.gpu_note

    lines = "\n".join(status_lines(status))
    # 5 GiB of 6 GiB in VRAM: 83%.
    assert (
        "qwen3:8b: 6.0 GiB, 5.0 GiB in VRAM (83%); context 8192; until 2026-03-01 12:10:00 UTC  ← configured"
        in lines
    )
    assert "nomic-embed-text:latest: 0.3 GiB, 0.0 GiB in VRAM (0%)" in lines


def test_a_model_registered_without_a_tag_matches_its_latest(ollama: StandInServer) -> None:
    status = asyncio.run(endpoint_status(config("n", ollama.base_url, model="nomic-embed-text")))
    assert [m.name for m in status.configured()] == ["nomic-embed-text:latest"]


def test_ollama_unload_is_an_empty_chat_with_keep_alive_zero(ollama: StandInServer) -> None:
    async def unload() -> Any:
        provider = OllamaProvider(settings(ollama.base_url))
        try:
            return await provider.unload("qwen3:8b")
        finally:
            await provider.aclose()

    action = asyncio.run(unload())

    assert (action.outcome, action.detail) == ("done", "unloaded (unload)")
    assert chats(ollama) == [
        {"model": "qwen3:8b", "messages": [], "keep_alive": 0, "stream": False}
    ]


def test_ollama_preload_is_an_empty_chat_that_keeps_the_model_loaded(
    ollama: StandInServer,
) -> None:
    ollama.reply("POST", "/api/chat", LOADED)

    async def preload() -> Any:
        provider = OllamaProvider(settings(ollama.base_url))
        try:
            return [await provider.preload("qwen3:8b"), await provider.preload("qwen3:8b", "-1")]
        finally:
            await provider.aclose()

    default, forever = asyncio.run(preload())

    assert default.outcome == "done" and "kept for 10m" in default.detail
    assert [(b["messages"], b["keep_alive"]) for b in chats(ollama)] == [([], "10m"), ([], "-1")]
    assert "prompt" not in chats(ollama)[0] and "format" not in chats(ollama)[0]
    assert forever.detail == "loaded (load), kept for -1"


def test_vllm_status_lists_the_served_model_with_memory_not_reported() -> None:
    with StandInServer() as vllm:
        vllm.reply("GET", "/v1/models", VLLM_MODELS)
        # No /metrics scripted: the stand-in answers 404, as a server without metrics would.
        status = asyncio.run(
            endpoint_status(config("v", vllm.base_url, "vllm", "Qwen/Qwen2.5-7B-Instruct"))
        )
        paths = [r.path for r in vllm.requests]

    (model,) = status.servers[0].loaded
    assert (model.size_bytes, model.vram_bytes, model.memory_note) == (None, None, NOT_REPORTED)
    assert (model.context_length, model.kv_cache_usage) == (32768, None)
    assert paths == ["/v1/models", "/metrics"]
    assert (
        "Qwen/Qwen2.5-7B-Instruct: not reported by this server; context 32768  ← configured"
        in "\n".join(status_lines(status))
    )


def test_vllm_kv_cache_usage_is_read_from_either_gauge_name() -> None:
    v1 = (
        "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        'vllm:kv_cache_usage_perc{engine="0",model_name="q"} 0.25\n'
        'vllm:kv_cache_usage_perc{engine="1",model_name="q"} 0.5\n'
        'vllm:num_requests_running{engine="0",model_name="q"} 3.0\n'
    )
    v0 = 'vllm:gpu_cache_usage_perc{model_name="q"} 0.125\n'
    # The fullest engine counts: max(0.25, 0.5).
    assert (kv_cache_usage(v1), kv_cache_usage(v0), kv_cache_usage("up 1\n")) == (0.5, 0.125, None)


def test_llamacpp_status_reports_the_weights_size_and_leaves_out_unloaded_router_models() -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", LLAMACPP_MODELS)
        status = asyncio.run(
            endpoint_status(config("l", server.base_url, "llamacpp", "qwen2.5-coder-0.5b"))
        )
        paths = [r.path for r in server.requests]

    (model,) = status.servers[0].loaded
    assert (model.name, model.size_bytes, model.memory_note) == (
        "qwen2.5-coder-0.5b",
        397_808_192,
        None,
    )
    assert paths == ["/v1/models"]  # /metrics is vLLM's


def test_unload_is_not_supported_on_openai_compatible_servers_and_sends_nothing() -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", VLLM_MODELS)

        async def run() -> Any:
            provider = OpenAICompatibleProvider(settings(server.base_url, "vllm"))
            try:
                return await provider.unload("Qwen/Qwen2.5-7B-Instruct")
            finally:
                await provider.aclose()

        action = asyncio.run(run())
        sent = list(server.requests)

    assert action.outcome == "skipped" and action.detail.startswith("not supported")
    assert sent == []


def test_preload_on_openai_compatible_checks_the_model_is_served() -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", VLLM_MODELS)

        async def run(model: str) -> Any:
            provider = OpenAICompatibleProvider(settings(server.base_url, "vllm"))
            try:
                return await provider.preload(model)
            finally:
                await provider.aclose()

        served = asyncio.run(run("Qwen/Qwen2.5-7B-Instruct"))
        with pytest.raises(ProviderUnavailable, match=r"does not serve 'llama3\.1:8b'"):
            asyncio.run(run("llama3.1:8b"))
        completions = [r for r in server.requests if r.path == "/v1/chat/completions"]

    assert (served.outcome, served.detail) == (
        "skipped",
        "already loaded: the server loads its model at start",
    )
    assert completions == []  # checking costs no generation


def test_a_failed_unload_is_reported_and_the_preload_still_runs(ollama: StandInServer) -> None:
    ollama.reply("POST", "/api/chat", Reply(500, {"error": "unload failed"}), LOADED)
    old = config("old", ollama.base_url, model="qwen3:8b")
    new = config("new", ollama.base_url, model="mistral:7b-instruct")

    report = asyncio.run(switch(old, new))

    assert [(s.action, s.model, s.outcome) for s in report.steps] == [
        ("unload", "qwen3:8b", "failed"), ("preload", "mistral:7b-instruct", "done"),
    ]  # fmt: skip
    assert "HTTP 500" in report.failures[0].detail and ollama.base_url in report.failures[0].detail
    assert report.summary().startswith("preloaded mistral:7b-instruct in ")


def test_switching_to_the_same_model_on_the_same_server_does_not_unload_it(
    ollama: StandInServer,
) -> None:
    ollama.reply("POST", "/api/chat", LOADED)
    same = config("q", ollama.base_url)

    report = asyncio.run(switch(same, same.model_copy(update={"temperature": 0.5})))

    assert [(s.action, s.outcome) for s in report.steps] == [
        ("unload", "skipped"),
        ("preload", "done"),
    ]
    assert [b["keep_alive"] for b in chats(ollama)] == ["10m"]  # the preload only


def test_a_server_that_does_not_answer_is_reported_with_its_url() -> None:
    with StandInServer() as server:
        gone = server.base_url  # closed on leaving: nothing listens there any more
    status = asyncio.run(endpoint_status(config("q", gone)))

    assert not status.answering
    assert status.servers[0].error is not None and gone in status.servers[0].error
    assert "NOT answering" in "\n".join(status_lines(status))


def test_only_loopback_and_this_host_count_as_local() -> None:
    assert [is_local(u) for u in ("http://127.0.0.1:11434", "http://localhost:8000",
                                  "http://[::1]:8000", "http://gpu-0:11434",
                                  "https://api.openai.com")] == [True, True, True, False, False]  # fmt: skip


def test_status_becomes_one_observation_of_extractions_per_model(ollama: StandInServer) -> None:
    statuses = [
        asyncio.run(endpoint_status(config("q", ollama.base_url))),
        asyncio.run(endpoint_status(config("m", ollama.base_url, model="mistral:7b-instruct"))),
    ]

    loaded, absent = observe_status(None, statuses)

    assert (loaded.asset_key.path, loaded.partition, absent.partition) == (
        ["extractions"],
        "q",
        "m",
    )
    assert loaded.metadata["loaded"].value is True and absent.metadata["loaded"].value is False
    assert (loaded.metadata["size_gib"].value, loaded.metadata["vram_gib"].value) == (6.0, 5.0)
    assert "size_gib" not in absent.metadata
    assert "| qwen3:8b | 6.0 GiB | 5.0 GiB | 2026-03-01 12:10 UTC |" in str(
        loaded.metadata["servers"].value
    )


def test_preload_on_a_server_of_several_models_loads_the_new_one_with_one_token() -> None:
    models = Reply(body={"object": "list", "data": [{"id": "small-a"}, {"id": "small-b"}]})
    with StandInServer() as server:
        server.reply("GET", "/v1/models", models)
        server.reply("POST", "/v1/chat/completions", chat_completion("o"))

        async def run() -> Any:
            provider = OpenAICompatibleProvider(settings(server.base_url, "llamacpp"))
            try:
                return await provider.preload("small-b")
            finally:
                await provider.aclose()

        action = asyncio.run(run())
        completions = [r.body for r in server.requests if r.path == "/v1/chat/completions"]
    assert action.outcome == "done"
    assert len(completions) == 1
    assert completions[0]["model"] == "small-b" and completions[0]["max_tokens"] == 1
