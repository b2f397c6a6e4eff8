"""How `kg local start` starts llama-server: loopback only, N slots each with a whole request's
context, prompt cache and the monitoring endpoints on, threads as configured."""

from pathlib import Path

import pytest

from kg_pipeline.serving.local_server import SLOT_CONTEXT_TOKENS, LocalServer


def _flags(command: list[str]) -> dict[str, str | None]:
    """``--name value`` pairs (None for a bare switch)."""
    flags: dict[str, str | None] = {}
    for position, word in enumerate(command):
        if word.startswith("--"):
            following = command[position + 1] if position + 1 < len(command) else "--"
            flags[word] = None if following.startswith("--") else following
    return flags


def test_each_slot_gets_a_whole_requests_context_on_loopback(tmp_path: Path) -> None:
    server = LocalServer(port=18089, slots=3, threads=2, state_dir=tmp_path)
    command = server.command(Path("/opt/llama-server"), Path("/models/m.gguf"))
    flags = _flags(command)
    assert command[0] == "/opt/llama-server"
    assert flags["--host"] == "127.0.0.1" and flags["--port"] == "18089"
    assert flags["--parallel"] == "3" and flags["--threads"] == "2"
    # llama-server splits --ctx-size evenly across its slots: 3 x 12,288.
    assert flags["--ctx-size"] == str(3 * SLOT_CONTEXT_TOKENS) == "36864"
    for switch in ("--no-kv-unified", "--cont-batching", "--cache-prompt", "--metrics", "--slots"):
        assert switch in flags and flags[switch] is None


def test_threads_follow_kg_local_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_LOCAL_THREADS", "1")
    assert LocalServer(state_dir=tmp_path).threads == 1
    assert _flags(LocalServer(state_dir=tmp_path).command(Path("s"), Path("m")))["--threads"] == "1"
