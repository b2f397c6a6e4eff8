"""Switching models at run time: `kg admin extraction reload --model B` while `kg ingest` runs
with model A. Both commands are the real CLI in their own processes; the models are loopback
servers speaking the OpenAI API that take a second per chunk, like a model decoding."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kg_pipeline.store.config import ConfigStore
from tests.stand_in_server import Reply, StandInServer

KG = str(Path(sys.executable).with_name("kg"))
CHUNK_SECONDS = 1.0
FILES = 12  # enough chunks left after the second for a CLI that starts slowly on a busy machine


def answer(label: str) -> Reply:
    extraction = {
        "concepts": [{"concept_id": "concept_001", "label": label, "description": "A thing.",
                      "search_terms": []}],
        "instances": [{"concept_id": "concept_001", "quote": label}],
        "relationships": [],
    }  # fmt: skip
    return Reply(
        body={
            "choices": [{"message": {"content": json.dumps(extraction)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 40},
        },
        delay=CHUNK_SECONDS,
    )


def serve_model(server: StandInServer, model: str) -> None:
    server.reply("GET", "/v1/models", Reply(body={"object": "list", "data": [{"id": model}]}))
    server.reply("POST", "/v1/chat/completions", answer("canal lock"))


def kg(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [KG, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def chats(server: StandInServer) -> list[Any]:
    return [r for r in server.requests if r.path == "/v1/chat/completions"]


def test_a_reload_switches_a_running_ingest_to_the_new_model_at_the_next_chunk(
    tmp_path: Path,
) -> None:
    env = os.environ | {"NO_COLOR": "1"}
    env.pop("DAGSTER_HOME", None)  # an ephemeral instance: this test is about the switch
    files = []
    for n in range(FILES):
        path = tmp_path / f"note{n}.md"
        path.write_text(f"Note {n}: a canal lock raises boats between two water levels.")
        files.append(str(path))
    with StandInServer() as a, StandInServer() as b:
        serve_model(a, "model-a")
        serve_model(b, "model-b")
        for name, server in (("a", a), ("b", b)):
            kg(env, tmp_path, "admin", "extraction", "set", "--provider", "vllm", "--model",
               f"model-{name}", "--name", name, "--base-url", server.base_url,
               "--max-concurrent-requests", "1")  # fmt: skip
        kg(env, tmp_path, "admin", "extraction", "reload", "--model", "a")

        ingest = subprocess.Popen(
            [KG, "ingest", *files, "-o", str(tmp_path / "graph.json"), "--no-cache"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            deadline = time.time() + 90
            while len(chats(a)) < 2 and ingest.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            assert len(chats(a)) >= 2, "the ingest never reached its second chunk"
            kg(env, tmp_path, "admin", "extraction", "reload", "--model", "b")
            switched_at = ConfigStore().get("b").updated_at
            output, _ = ingest.communicate(timeout=120)
        finally:
            ingest.kill()
        assert ingest.returncode == 0, output

    assert switched_at is not None
    switch = switched_at.timestamp()
    # No chunk started on A after the switch; the one in flight finished there.
    assert all(r.at < switch for r in chats(a))
    assert len(chats(a)) + len(chats(b)) == FILES and chats(b)
    # B took over within one chunk: no later than the in-flight chunk's remaining time.
    takeover = chats(b)[0].at - switch
    assert 0 <= takeover <= CHUNK_SECONDS + 0.5, takeover
    # Between A's last answer and B's first request: the poll and the new provider.
    handover = chats(b)[0].at - (chats(a)[-1].at + CHUNK_SECONDS)
    print(f"\nswitch: B's first chunk {takeover:.3f}s after the reload; handover {handover:.3f}s")

    graph = json.loads((tmp_path / "graph.json").read_text())
    models = [d["models"] for d in graph["documents"]]
    assert models[0] == ["model-a"] and models[-1] == ["model-b"]
    records = [json.loads(line) for line in Path(graph["records_file"]).read_text().splitlines()]
    assert [r["status"] for r in records] == ["valid"] * FILES
    assert "configuration changed: the next chunks use model-b" in output
