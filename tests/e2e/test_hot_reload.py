"""`kg admin extraction reload --model B` unloads A and preloads B on the server, timing both, so
B's first chunk does not wait for the load; `kg admin extraction status` shows what is loaded.
Two models on one loopback server speaking Ollama's API."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.main import main
from kg_pipeline.store.config import ConfigStore
from tests.models import register_model
from tests.stand_in_server import Reply, StandInServer

GIB = 1024**3
LOAD_SECONDS = 0.4  # how long the stand-in takes to "load" B
A, B = "mistral:7b-instruct", "qwen2.5:7b"


def done(model: str, reason: str, delay: float = 0.0) -> Reply:
    return Reply(
        body={"model": model, "created_at": "2026-03-01T12:00:00Z",
              "message": {"role": "assistant", "content": ""}, "done_reason": reason, "done": True},
        delay=delay,
    )  # fmt: skip


PS_B_LOADED = Reply(
    body={"models": [{"name": B, "model": B, "size": 5 * GIB, "size_vram": 5 * GIB,
                      "digest": "845dbda0ea48", "details": {"format": "gguf", "family": "qwen2"},
                      "expires_at": "2026-03-01T12:10:00Z", "context_length": 4096}]}
)  # fmt: skip


@pytest.fixture
def ollama() -> Iterator[StandInServer]:
    with StandInServer() as server:
        server.reply("POST", "/api/chat", done(A, "unload"), done(B, "load", LOAD_SECONDS))
        server.reply("GET", "/api/ps", PS_B_LOADED)
        register_model("a", server.base_url, model=A, provider="ollama", active=True)
        register_model("b", server.base_url, model=B, provider="ollama", active=False)
        yield server


def kg(*args: str) -> Result:
    return CliRunner().invoke(main, ["admin", "extraction", *args], catch_exceptions=False)


def chats(server: StandInServer) -> list[Any]:
    return [r for r in server.requests if r.path == "/api/chat"]


def test_reload_unloads_the_old_model_then_preloads_the_new_one_and_prints_the_times(
    ollama: StandInServer,
) -> None:
    result = kg("reload", "--model", "b")

    assert result.exit_code == 0, result.output
    assert ConfigStore().active().name == "b"
    unload, preload = chats(ollama)
    assert unload.body == {"model": A, "messages": [], "keep_alive": 0, "stream": False}
    assert preload.body == {"model": B, "messages": [], "keep_alive": "10m", "stream": False}
    assert unload.at <= preload.at
    found = re.search(
        rf"unloaded {re.escape(A)} from {re.escape(ollama.base_url)} in ([\d.]+) s; "
        rf"preloaded {re.escape(B)} in ([\d.]+) s \(first chunk will not pay the load\)",
        result.output,
    )
    assert found, result.output
    unload_s, preload_s = float(found[1]), float(found[2])
    # The preload waited for the load (the stand-in's delay); the unload did not.
    assert preload_s >= LOAD_SECONDS > unload_s
    print(f"\nswitch: unload {unload_s:.3f} s, preload {preload_s:.3f} s")


def test_reload_with_no_preload_only_switches_the_store(ollama: StandInServer) -> None:
    result = kg("reload", "--model", "b", "--no-preload")

    assert result.exit_code == 0 and "running extractions switch" in result.output
    assert ConfigStore().active().name == "b"
    assert chats(ollama) == []


def test_a_failed_preload_is_a_warning_and_the_switch_stands(ollama: StandInServer) -> None:
    ollama.reply(
        "POST", "/api/chat", done(A, "unload"), Reply(404, {"error": f"model '{B}' not found"})
    )

    result = kg("reload", "--model", "b")

    assert result.exit_code == 0, result.output
    assert ConfigStore().active().name == "b"
    assert f"warning: could not preload {B} on {ollama.base_url}" in result.output
    assert "HTTP 404" in result.output


def test_status_shows_what_the_server_has_loaded(ollama: StandInServer) -> None:
    active = kg("status", "--name", "b")
    other = kg("status", "--name", "a")
    every = kg("status", "--all")

    assert active.exit_code == 0, active.output
    assert (
        f"○ b: {B}" in active.output
        and f"server {ollama.base_url} (ollama): answering" in active.output
    )
    # 5 GiB, all of it in VRAM.
    assert (
        f"{B}: 5.0 GiB, 5.0 GiB in VRAM (100%); context 4096; until 2026-03-01 12:10:00 UTC  ← configured"
        in active.output
    )
    assert "GPU" in active.output  # totals, or why they cannot be read
    assert f"{A} is not loaded: the first chunk will pay the load" in other.output
    assert every.exit_code == 0 and "● active a" in every.output and "○ b" in every.output


def test_status_of_a_server_that_does_not_answer_exits_with_its_url() -> None:
    with StandInServer() as server:
        gone = server.base_url
    register_model("gone", gone, model=A, provider="ollama")

    result = kg("status")

    assert result.exit_code == 1
    assert "NOT answering" in result.output and f"cannot reach {gone}/api/ps" in result.output
    assert "error: gone's server does not answer (see above)" in result.output
