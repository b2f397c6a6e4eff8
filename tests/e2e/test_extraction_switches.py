"""The extraction step's switches set per model from the CLI (`kg admin extraction set
--prompt-version --gleaning --no-ground-quotes --repeat-penalty`) and honoured by the `extractions` asset."""

import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from kg_pipeline.cli.main import main
from kg_pipeline.contract.messages import PROMPT_V2
from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from kg_pipeline.extraction.prompts.wording import GLEANING_REQUEST
from kg_pipeline.store.config import ConfigStore
from tests.models import materialize_partition
from tests.stand_in_server import Reply, StandInServer, chat_completion

MODELS = Reply(body={"object": "list", "data": [{"id": "m"}]})
NOTE = "A canal lock raises boats. The lock keeper opens the gates."
ANSWER = chat_completion(
    json.dumps(
        {
            "concepts": [
                {"concept_id": "c1", "label": "canal lock", "description": "", "search_terms": []}
            ],
            "instances": [
                {"concept_id": "c1", "quote": "A  canal lock"},
                {"concept_id": "c1", "quote": "a lift for ships"},
            ],
            "relationships": [],
        }
    )
)


def register(args: list[str], base_url: str) -> None:
    result = CliRunner().invoke(
        main,
        ["admin", "extraction", "set", "--provider", "vllm", "--model", "m", "--name", "small",
         "--base-url", base_url, *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def run(corpus: Path) -> list:
    result = materialize_partition(
        [documents, chunks, extractions],
        "small",
        run_config=dg.RunConfig(ops={"documents": DocumentsConfig(corpus_dir=str(corpus))}),
    )
    return list(result.output_for_node("extractions"))


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "corpus" / "notes"
    folder.mkdir(parents=True)
    (folder / "lock.md").write_text(NOTE, encoding="utf-8")
    return folder.parent


def test_a_model_set_to_prompt_v2_with_gleaning_extracts_that_way(corpus: Path) -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", MODELS)
        server.reply("POST", "/v1/chat/completions", ANSWER)
        register(["--prompt-version", PROMPT_V2, "--gleaning", "1"], server.base_url)
        options = ConfigStore().get("small").options
        assert (options.prompt_version, options.gleaning, options.ground_quotes) == (
            PROMPT_V2,
            1,
            True,
        )
        records = run(corpus)
        calls = [r.body for r in server.requests if r.path.endswith("/completions")]
    (record,) = records
    assert record.prompt_version == PROMPT_V2 and len(record.gleaning) == 1
    assert calls[1]["messages"][-1]["content"] == GLEANING_REQUEST
    # Grounded: the quote is the source's text, the invented one dropped.
    assert [i.quote for i in record.extraction.instances] == ["A canal lock"]
    assert record.grounding is not None and record.grounding.dropped == 1


def test_grounding_can_be_switched_off_for_a_model(corpus: Path) -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", MODELS)
        server.reply("POST", "/v1/chat/completions", ANSWER)
        register(["--no-ground-quotes"], server.base_url)
        (record,) = run(corpus)
    assert record.grounding is None
    assert [i.quote for i in record.extraction.instances] == ["A  canal lock", "a lift for ships"]


def test_an_out_of_range_gleaning_count_is_refused_by_name(corpus: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["admin", "extraction", "set", "--provider", "vllm", "--model", "m", "--name", "small",
         "--base-url", "http://127.0.0.1:9", "--skip-check", "--gleaning", "7"],
    )  # fmt: skip
    assert result.exit_code != 0 and "gleaning" in result.output


def test_a_repeat_penalty_set_for_a_model_reaches_its_server(corpus: Path) -> None:
    with StandInServer() as server:
        server.reply("GET", "/v1/models", MODELS)
        server.reply("POST", "/v1/chat/completions", ANSWER)
        register(["--repeat-penalty", "1.05"], server.base_url)
        assert ConfigStore().get("small").options.repeat_penalty == 1.05
        run(corpus)
        [call] = [r.body for r in server.requests if r.path.endswith("/completions")]
    assert call["repetition_penalty"] == 1.05


def test_a_run_may_name_its_own_prompt_version_and_an_unknown_one_fails_the_step(
    corpus: Path,
) -> None:
    def run_with(version: str) -> dg.ExecuteInProcessResult:
        ops = {
            "documents": DocumentsConfig(corpus_dir=str(corpus)),
            "extractions": ExtractionsConfig(prompt_version=version),
        }
        return materialize_partition(
            [documents, chunks, extractions], "small", run_config=dg.RunConfig(ops=ops),
            raise_on_error=False,
        )  # fmt: skip

    with StandInServer() as server:
        server.reply("GET", "/v1/models", MODELS)
        server.reply("POST", "/v1/chat/completions", ANSWER)
        register([], server.base_url)
        ran = run_with(PROMPT_V2)
        unknown = run_with("kg-extract-v99")
    (record,) = ran.output_for_node("extractions")
    assert record.prompt_version == PROMPT_V2
    assert ConfigStore().get("small").options.prompt_version != PROMPT_V2
    assert not unknown.success
    [failure] = [e for e in unknown.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "unknown prompt version 'kg-extract-v99'" in str(failure.event_specific_data)
