"""`kg bench` as a user runs it: a seeded sample of a gold set imported into its benchmark folder,
the main job run on it with the data set's vocabulary and scored against the data set's
references, and the headline figures printed. Run again, the same
documents are drawn and the response cache answers every chunk: no model call, identical
scores.

The model server is a loopback stand-in answering every chunk with one fixed extraction; what
is asserted is the plumbing and the reproducibility, not the answer's quality."""

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.main import main
from kg_pipeline.store.config import ConfigStore
from tests.docred_documents import docred_document
from tests.models import register_model
from tests.stand_in_server import StandInServer, chat_completion, extraction_body

DOCUMENTS = 12
SAMPLE = 4
FOLDER = Path("results") / "bench" / f"redocred-dev-n{SAMPLE}-seed0"
ANSWER = extraction_body(
    [("c1", "Person3"), ("c2", "Town3")],
    [("c1", "Person3"), ("c2", "Town3")],
    [("c1", "c2", "PLACE_OF_BIRTH")],
)
CHAT = ("POST", "/v1/chat/completions")
KG = str(Path(sys.executable).with_name("kg"))
CLI_SECONDS = 180  # a `kg` command's start and run on a busy 2-core machine, with room to spare


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no ./dagster_home here: runs go to an ephemeral instance
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "KG_ENDPOINTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KG_RESULTS_DIR", "results")
    data = tmp_path / "datasets" / "redocred"
    data.mkdir(parents=True)
    documents = [docred_document(n) for n in range(DOCUMENTS)]
    (data / "dev_revised.json").write_text(json.dumps(documents), encoding="utf-8")
    (data / "rel_info.json").write_text(json.dumps({"P19": "place of birth"}), encoding="utf-8")
    monkeypatch.setenv("KG_DATASETS_DIR", str(tmp_path / "datasets"))
    yield tmp_path


def bench() -> Result:
    args = ["bench", "redocred", "--sample", str(SAMPLE), "--seed", "0", "--model", "local"]
    return CliRunner().invoke(main, args)


def report(root: Path) -> dict[str, Any]:
    return json.loads((root / FOLDER / "quality" / "local.json").read_text())


def test_a_benchmark_rerun_draws_the_same_documents_and_the_cache_gives_identical_scores(
    workdir: Path,
) -> None:
    with StandInServer() as server:
        server.reply(*CHAT, chat_completion(json.dumps(ANSWER)))
        register_model("local", server.base_url, max_retries=0)
        first = bench()
        calls = sum((r.method, r.path) == CHAT for r in server.requests)
        first_report = report(workdir)
        second = bench()
        calls_again = sum((r.method, r.path) == CHAT for r in server.requests)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    # The side script's draw of 4 of the 12 documents, seed 0; document stems are file indexes.
    drawn = sorted(f"{n:04d}" for n in random.Random(0).sample(range(DOCUMENTS), SAMPLE))
    corpus = sorted(p.stem for p in (workdir / FOLDER / "corpus" / "redocred").glob("*.md"))
    assert corpus == drawn
    assert calls == SAMPLE  # one chunk per document
    assert calls_again == calls  # every chunk of the re-run answered from the cache
    again = report(workdir)
    assert again["documents"] == first_report["documents"]
    assert again["figures"] == first_report["figures"]
    assert again["run_counts"]["cached_chunks"] == SAMPLE
    assert first_report["vocabulary"] == "redocred-custom"
    assert first_report["measured_against"].startswith(f"{SAMPLE} references imported from")
    # One document (Person3, if drawn) or none matches the fixed answer; the headline says so.
    for output in (first.output, second.output):
        assert "| entity P / R / F1 (exact) |" in output
        assert "| verbatim quotes: model's answer |" in output
        assert f"report: {FOLDER / 'quality' / 'local.md'}" in output
    assert "| chunks answered from the response cache | 4 of 4 |" in second.output


def test_a_data_set_that_is_nowhere_is_one_line_naming_the_data_option(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KG_DATASETS_DIR", str(workdir / "empty"))
    register_model("local", "http://127.0.0.1:9", max_retries=0)
    result = bench()
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("error: no redocred dev data found (looked at ")
    assert "pass --data PATH" in line
    assert not (workdir / "results").exists()


T2K_SENTENCES = [
    ("Aarhus Airport is located in Tirstrup.", "Aarhus_Airport", "location", "Tirstrup"),
    ("Aarhus Airport serves the city of Aarhus.", "Aarhus_Airport", "cityServed", "Aarhus"),
    ("Tirstrup is in Denmark.", "Tirstrup", "country", "Denmark"),
]
T2K_ANSWER = extraction_body(
    [("c1", "Aarhus Airport"), ("c2", "Tirstrup")],
    [("c1", "Aarhus Airport"), ("c2", "Tirstrup")],
    [("c1", "c2", "LOCATION")],
)


def test_a_text2kgbench_benchmark_prints_the_data_set_s_own_metrics(workdir: Path) -> None:
    data = workdir / "datasets" / "text2kgbench-dbpedia"
    (data / "ontologies").mkdir(parents=True)
    (data / "train").mkdir()
    ontology = {
        "concepts": [{"qid": c, "label": c} for c in ("Airport", "City", "Country")],
        "relations": [
            {"pid": r, "label": r, "domain": "Airport", "range": "Place"}
            for r in ("location", "cityServed", "country")
        ],
    }
    (data / "ontologies" / "3_airport_ontology.json").write_text(json.dumps(ontology))
    lines = [
        json.dumps({"id": f"ont_3_airport_train_{i}", "sent": sent,
                    "triples": [{"sub": sub, "rel": rel, "obj": obj}]})
        for i, (sent, sub, rel, obj) in enumerate(T2K_SENTENCES, start=1)
    ]  # fmt: skip
    (data / "train" / "ont_3_airport_train.jsonl").write_text("\n".join(lines) + "\n")
    with StandInServer() as server:
        server.reply(*CHAT, chat_completion(json.dumps(T2K_ANSWER)))
        register_model("local", server.base_url, max_retries=0)
        args = ["bench", "text2kgbench", "--sample", "3", "--seed", "0", "--model", "local"]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # Every sentence gets the answer (Aarhus Airport, location, Tirstrup). The model's answer:
    # sentence 1 finds its one gold triple (F1 1); 2 and 3 keep nothing (their gold relations
    # are cityServed and country), F1 0: macro (1 + 0 + 0) / 3 = 0.333 over 3 gold triples.
    # All 3 predicted triples are in the ontology (conformance 1.000); "Aarhus Airport" is not
    # in sentence 3 nor "Tirstrup" in sentence 2: subject and object hallucination 1/3 each.
    assert "| Text2KGBench triple F1 | 0.333 (n = 3, " in result.output
    assert "| Text2KGBench ontology conformance | 1.000 (n = 3, " in result.output
    assert "| Text2KGBench subject hallucination | 0.333 (n = 3, " in result.output
    assert "| Text2KGBench object hallucination | 0.333 (n = 3, " in result.output
    # Per ontology: correct / kept / predicted / gold triples; P is (1 + 0 + 0) / 3 too, a
    # sentence with nothing kept counting 0 as in the script, over the 1 kept triple. Grounding
    # drops the concept the sentence does not hold, and with it the relationship, in sentences
    # 2 and 3: the output predicts 1 triple, its hallucination 0 (n = 1).
    assert "| airport | 3 | 1 / 1 / 3 / 3 | 0.333 (n = 1) | 0.333 (n = 3) |" in result.output
    assert "| airport | 3 | 1 / 1 / 1 / 3 | 0.333 (n = 1) | 0.333 (n = 3) |" in result.output
    assert "/ 0.000 (n = 1, " in result.output  # the output's subject hallucination
    folder = workdir / "results" / "bench" / "text2kgbench-train-n3-seed0" / "quality"
    assert "Text2KGBench metrics (the paper's definitions)" in (folder / "local.md").read_text()
    saved = json.loads((folder / "local.json").read_text())
    assert [s["f1"] for s in saved["text2kgbench"]["model_answer"]["sentences"]] == [1, 0, 0]


def test_a_benchmark_is_scored_against_the_data_sets_references_even_with_a_cloud_key(
    workdir: Path,
) -> None:
    """With OPENAI_API_KEY set the main job records the cloud model as its baseline; `kg bench`
    measures against the data set's own references all the same, and never calls the cloud
    model. In a process of its own: the Definitions read whether a key is set when first
    imported, which in this one happened without a key."""
    with StandInServer() as server, StandInServer() as cloud:
        server.reply(*CHAT, chat_completion(json.dumps(ANSWER)))
        cloud.reply(*CHAT, chat_completion(json.dumps(ANSWER)))  # a baseline it could record
        register_model("local", server.base_url, max_retries=0)
        env = os.environ | {
            "OPENAI_API_KEY": "sk-stand-in",
            "KG_BASELINE_BASE_URL": cloud.base_url,
            "NO_COLOR": "1",
        }
        args = ["bench", "redocred", "--sample", str(SAMPLE), "--seed", "0", "--model", "local"]
        done = subprocess.run(
            [KG, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=CLI_SECONDS
        )
        cloud_calls = len(cloud.requests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert cloud_calls == 0
    assert report(workdir)["measured_against"].startswith(f"{SAMPLE} references imported from")


def test_a_prompt_version_given_to_the_benchmark_is_used_for_that_run_only(
    workdir: Path,
) -> None:
    with StandInServer() as server:
        server.reply(*CHAT, chat_completion(json.dumps(ANSWER)))
        register_model("local", server.base_url, max_retries=0)
        args = ["bench", "redocred", "--sample", "1", "--seed", "0", "--model", "local",
                "--prompt-version", "kg-extract-v2"]  # fmt: skip
        result = CliRunner().invoke(main, args)
        model_options = ConfigStore().get("local").options
    assert result.exit_code == 0, result.output
    folder = workdir / "results" / "bench" / "redocred-dev-n1-seed0"
    records = (folder / "extractions" / "local.jsonl").read_text().splitlines()
    assert [json.loads(line)["prompt_version"] for line in records] == ["kg-extract-v2"]
    assert model_options.prompt_version == "kg-extract-v1"  # the registered model is unchanged


def test_an_unknown_prompt_version_is_refused_by_the_command(workdir: Path) -> None:
    args = ["bench", "redocred", "--sample", "1", "--prompt-version", "kg-extract-v99"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "kg-extract-v99" in result.output
