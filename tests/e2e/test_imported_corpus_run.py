"""An imported gold set runs as the importer says: its printed `next:` command, pasted, runs the
main job through `kg` with the corpus's own vocabulary.json and scores against the imported
references, named as such. `kg run --vocabulary` overrides the corpus's vocabulary; one that
does not resolve is one line before any run. A run given only the corpus folder (as from the
Dagster UI) uses the corpus's vocabulary too.

The model server is a loopback server that answers every chunk with an empty extraction; what
is asserted is what the pipeline sent it and what it wrote, not the answer's quality."""

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner

from kg_pipeline.cli.main import main
from kg_pipeline.definitions import baseline, chunks, documents, extractions, quality_report
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from tests.models import materialize_partition, register_model
from tests.outage_server import OutageServer

DOCRED = [
    {
        "title": "Ada Lovelace",
        "sents": [["Ada", "Lovelace", "worked", "with", "Charles", "Babbage", "."]],
        "vertexSet": [
            [{"name": "Ada Lovelace", "pos": [0, 2], "sent_id": 0, "type": "PER"}],
            [{"name": "Charles Babbage", "pos": [4, 6], "sent_id": 0, "type": "PER"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P1327", "evidence": [0]}],
    }
]  # fmt: skip
# Not the published relation list, so the importer writes a vocabulary of its own
# (redocred-custom), which only the corpus's vocabulary.json holds.
REL_INFO = {"P569": "date of birth", "P1327": "partner in business or sport"}
DATA_SET = "Re-DocRED dev (Tan et al., 2022; MIT)"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no ./dagster_home here: runs go to an ephemeral instance
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "KG_ENDPOINTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path


@pytest.fixture
def next_command(workdir: Path) -> list[str]:
    """The argv of the command `kg corpus import redocred` says to run next."""
    (workdir / "dev.json").write_text(json.dumps(DOCRED), encoding="utf-8")
    (workdir / "rel_info.json").write_text(json.dumps(REL_INFO), encoding="utf-8")
    out = "my corpora/redocred"  # a space: the printed command must quote it
    result = CliRunner().invoke(main, ["corpus", "import", "redocred", "dev.json", "--out", out])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    hint = next(i for i, line in enumerate(lines) if line.startswith("next:"))
    return shlex.split(lines[hint + 1])


def records(root: Path) -> list[dict[str, Any]]:
    lines = (root / "results" / "extractions" / "local.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_the_importers_next_command_runs_the_corpus_with_its_own_vocabulary(
    workdir: Path, next_command: list[str]
) -> None:
    assert next_command == ["kg", "run", "--corpus", "my corpora/redocred"]
    with OutageServer() as server:
        register_model("local", server.base_url, max_retries=0)
        result = CliRunner().invoke(main, next_command[1:])
    assert result.exit_code == 0, result.output
    vocabulary_file = Path("my corpora/redocred/vocabulary.json")
    assert (
        f"vocabulary: redocred-custom, 2 relation types (the corpus's {vocabulary_file})"
        in result.output
    )
    assert [r["vocabulary"] for r in records(workdir)] == ["redocred-custom"]
    # The prompt offers the data set's relation types, not the base 31.
    prompt = server.served[0].prompt
    assert "PARTNER_IN_BUSINESS_OR_SPORT" in prompt and "PRESUPPOSES" not in prompt
    report = json.loads((workdir / "results" / "quality" / "local.json").read_text())
    assert report["vocabulary"] == "redocred-custom"
    assert report["measured_against"] == f"1 references imported from {DATA_SET}"


def test_a_vocabulary_given_to_kg_run_overrides_the_corpus_s_own(
    workdir: Path, next_command: list[str]
) -> None:
    with OutageServer() as server:
        register_model("local", server.base_url, max_retries=0)
        result = CliRunner().invoke(main, [*next_command[1:], "--vocabulary", "kg60"])
    assert result.exit_code == 0, result.output
    assert "vocabulary: kg60, 60 relation types\n" in result.output
    assert [r["vocabulary"] for r in records(workdir)] == ["kg60"]
    assert "PARTNER_IN_BUSINESS_OR_SPORT" not in server.served[0].prompt


def test_an_unknown_vocabulary_for_kg_run_is_one_line_before_the_run(
    workdir: Path, next_command: list[str]
) -> None:
    register_model("local", "http://127.0.0.1:9", max_retries=0)
    result = CliRunner().invoke(main, [*next_command[1:], "--vocabulary", "nope"])
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("error: no vocabulary named 'nope' and no such file; give one of ")
    assert not (workdir / "results").exists()


def test_a_run_launched_with_only_the_corpus_folder_uses_the_corpus_s_vocabulary(
    workdir: Path, next_command: list[str]
) -> None:
    # As from the Dagster UI's launchpad: the documents' folder is the only config given, and
    # the extractions and the report still use the corpus's relation types, not base31.
    corpus = DocumentsConfig(corpus_dir=next_command[-1])
    with OutageServer() as server:
        register_model("local", server.base_url, max_retries=0)
        materialize_partition(
            [documents, chunks, extractions, baseline, quality_report],
            "local",
            run_config=dg.RunConfig(ops={"documents": corpus}),
        )
    assert [r["vocabulary"] for r in records(workdir)] == ["redocred-custom"]
    assert "PARTNER_IN_BUSINESS_OR_SPORT" in server.served[0].prompt
    report = json.loads((workdir / "results" / "quality" / "local.json").read_text())
    assert report["vocabulary"] == "redocred-custom"


def test_the_report_follows_the_vocabulary_the_extractions_were_made_with(
    workdir: Path, next_command: list[str]
) -> None:
    # Only the extractions are told another vocabulary: the report scores against it, not the
    # corpus's own.
    ops = {
        "documents": DocumentsConfig(corpus_dir=next_command[-1]),
        "extractions": ExtractionsConfig(vocabulary="kg60"),
    }
    with OutageServer() as server:
        register_model("local", server.base_url, max_retries=0)
        materialize_partition(
            [documents, chunks, extractions, baseline, quality_report],
            "local",
            run_config=dg.RunConfig(ops=ops),
        )
    assert [r["vocabulary"] for r in records(workdir)] == ["kg60"]
    report = json.loads((workdir / "results" / "quality" / "local.json").read_text())
    assert report["vocabulary"] == "kg60"


def test_a_report_on_a_prompt_that_asks_no_confidence_plots_no_calibration(
    workdir: Path, next_command: list[str]
) -> None:
    corpus = DocumentsConfig(corpus_dir=next_command[-1])
    quality = workdir / "results" / "quality"

    def run(prompt_version: str) -> dg.ExecuteInProcessResult:
        with OutageServer() as server:
            register_model(
                "local", server.base_url, options={"prompt_version": prompt_version},
                max_retries=0,
            )  # fmt: skip
            return materialize_partition(
                [documents, chunks, extractions, baseline, quality_report],
                "local",
                run_config=dg.RunConfig(ops={"documents": corpus}),
            )

    def plot_metadata(result: dg.ExecuteInProcessResult) -> set[str]:
        [event] = result.get_asset_materialization_events()[-1:]
        return {k for k in event.materialization.metadata if k.endswith("_plot")}

    asked = run("kg-extract-v1")  # asks a confidence per relationship
    assert (quality / "local.calibration.png").is_file()
    assert plot_metadata(asked) == {"calibration_plot", "f1_by_category_plot"}
    not_asked = run("kg-extract-v6")
    assert not (quality / "local.calibration.png").exists()
    assert plot_metadata(not_asked) == {"f1_by_category_plot"}
