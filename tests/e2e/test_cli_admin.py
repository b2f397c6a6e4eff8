"""`kg admin extraction …` against a loopback server speaking Ollama's API: registering checks
the server and the model, bad input is one line naming the fix and stores nothing."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.main import main
from kg_pipeline.defs.registry import MODEL_PARTITIONS
from kg_pipeline.extraction.prompts import PROMPT_SPECS
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.store.config import ConfigStore
from tests.stand_in_server import Reply, StandInServer

ROOT = Path(__file__).resolve().parents[2]
ANSWER = {
    "concepts": [{"concept_id": "concept_001", "label": "PostgreSQL",
                  "description": "A relational database.", "search_terms": ["Postgres"]}],
    "instances": [{"concept_id": "concept_001", "quote": "PostgreSQL"}],
    "relationships": [],
}  # fmt: skip
TAGS = Reply(body={"models": [{"name": "mistral:7b-instruct", "model": "mistral:7b-instruct"}]})
CHAT = Reply(
    body={"model": "mistral:7b-instruct", "message": {"role": "assistant", "content": json.dumps(ANSWER)},
          "done": True, "done_reason": "stop", "prompt_eval_count": 700, "eval_count": 60}
)  # fmt: skip


@pytest.fixture
def ollama() -> Iterator[StandInServer]:
    with StandInServer() as server:
        server.reply("GET", "/api/tags", TAGS)
        server.reply("POST", "/api/chat", CHAT)
        yield server


@pytest.fixture
def instance_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def kg(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_set_checks_the_server_stores_the_model_and_adds_its_partition(
    ollama: StandInServer, instance_home: Path
) -> None:
    result = kg("admin", "extraction", "set", "--provider", "ollama", "--model",
                "mistral:7b-instruct", "--base-url", ollama.base_url, "--thinking-mode", "low",
                "--gpu-layers", "24", "--num-threads", "8")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "registered mistral:7b-instruct" in result.output and "active" in result.output
    assert "next:" in result.output
    config = ConfigStore().active()
    assert (config.model_name, config.gpu_layers, config.num_threads) == (
        "mistral:7b-instruct",
        24,
        8,
    )
    assert config.thinking_mode.value == "low"
    with dg.DagsterInstance.get() as instance:
        assert "mistral:7b-instruct" in instance.get_dynamic_partitions(MODEL_PARTITIONS)

    # Changing one setting keeps the others.
    again = kg(
        "admin", "extraction", "set", "--name", "mistral:7b-instruct", "--temperature", "0.3"
    )
    assert again.exit_code == 0 and "updated" in again.output
    changed = ConfigStore().get("mistral:7b-instruct")
    assert (changed.temperature, changed.gpu_layers) == (0.3, 24)


def test_the_outage_and_fallback_waits_are_set_from_the_command_line(
    ollama: StandInServer, instance_home: Path
) -> None:
    result = kg("admin", "extraction", "set", "--provider", "ollama", "--model",
                "mistral:7b-instruct", "--base-url", ollama.base_url, "--local-timeout", "60",
                "--outage-budget", "30", "--cooldown", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    settings = ConfigStore().active().settings()
    assert (
        settings.local_timeout_seconds,
        settings.outage_budget_seconds,
        settings.cooldown_seconds,
    ) == (60.0, 30.0, 2.0)


def test_gpu_layers_and_threads_reach_ollama_as_num_gpu_and_num_thread(
    ollama: StandInServer, instance_home: Path
) -> None:
    kg("admin", "extraction", "set", "--provider", "ollama", "--model", "mistral:7b-instruct",
       "--base-url", ollama.base_url, "--gpu-layers", "24", "--num-threads", "8")  # fmt: skip
    result = kg("admin", "extraction", "test", "--text", "PostgreSQL is a database.")
    assert result.exit_code == 0, result.output
    assert "valid JSON: 1 concepts" in result.output and "60 output tokens" in result.output
    [chat] = [r for r in ollama.requests if r.path == "/api/chat"]
    assert chat.body["options"]["num_gpu"] == 24 and chat.body["options"]["num_thread"] == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "olama", "--model", "m"], "Invalid value for '--provider'"),
        (["--provider", "ollama", "--model", "m", "--base-url", "localhost:11434"],
         "is not an http(s) URL"),
        (["--provider", "ollama", "--model", "m", "--base-url", "http://127.0.0.1:9"],
         "does not answer"),
        (["--provider", "ollama", "--model", "llama3:70b", "--base-url", "{ollama}"],
         "does not serve 'llama3:70b' (it serves: mistral:7b-instruct); pull it with "
         "`ollama pull llama3:70b`"),
        (["--provider", "ollama", "--model", "mistral:7b-instruct", "--base-url", "{ollama}",
          "--temperature", "1.5"], "temperature: Input should be less than or equal to 1"),
        (["--provider", "openai_compatible", "--model", "m"], "--base-url is required"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_with_the_fix_and_nothing_is_stored(
    ollama: StandInServer, instance_home: Path, args: list[str], message: str
) -> None:
    args = [a.replace("{ollama}", ollama.base_url) for a in args]
    result = CliRunner().invoke(main, ["admin", "extraction", "set", *args])
    assert result.exit_code != 0
    assert message in result.output
    # At most the embedded model, which the store is seeded with when it is first opened.
    assert {c.name for c in ConfigStore().list()} <= {DEFAULT_ENDPOINT.name}


def test_show_models_and_reload_switch_the_active_model(
    ollama: StandInServer, instance_home: Path
) -> None:
    for model in ("mistral:7b-instruct", "qwen2.5:7b"):
        ollama.reply("GET", "/api/tags", Reply(body={"models": [{"name": "mistral:7b-instruct"},
                                                                  {"name": "qwen2.5:7b"}]}))  # fmt: skip
        assert kg("admin", "extraction", "set", "--provider", "ollama", "--model", model,
                  "--base-url", ollama.base_url).exit_code == 0  # fmt: skip
    assert kg("admin", "extraction", "show", "--field", "model_name").output.strip() == "qwen2.5:7b"
    listing = kg("admin", "extraction", "models").output
    assert "mistral:7b-instruct" in listing and "qwen2.5:7b ← configured" in listing

    reload = kg("admin", "extraction", "reload", "--model", "mistral:7b-instruct")
    assert (
        reload.exit_code == 0 and "running extractions switch at their next chunk" in reload.output
    )
    shown = json.loads(kg("admin", "extraction", "show", "--all", "--json").output)
    assert [(c["name"], c["active"]) for c in shown] == [
        (DEFAULT_ENDPOINT.name, False), ("mistral:7b-instruct", True), ("qwen2.5:7b", False),
    ]  # fmt: skip
    unknown = CliRunner().invoke(main, ["admin", "extraction", "reload", "--model", "gpt-5"])
    assert unknown.exit_code == 1 and "no model named 'gpt-5' is registered" in unknown.output


def test_the_prompt_version_help_describes_every_registered_version() -> None:
    # Wide enough that no summary is wrapped: each is looked for whole.
    result = CliRunner().invoke(
        main, ["admin", "extraction", "set", "--help"], terminal_width=1000, max_content_width=1000
    )
    assert result.exit_code == 0, result.output
    # The option's help: from its name to the next option (the choices may take a line).
    text = result.output.split("--prompt-version")[1].split("--ground-quotes")[0]
    help_text = " ".join(text.split())
    assert "Extraction prompt (default kg-extract-v1). v1: " in help_text
    for spec in PROMPT_SPECS:
        assert f"{spec.name.removeprefix('kg-extract-')}: {spec.summary}" in help_text
    assert "v6: v4 with a bare answer" in help_text
