"""An outage is reported as an outage: the issue's scenarios through `kg run` and `kg ingest`
(Dagster in this process, on an in-memory instance), against real loopback servers that are not
running, die and come back, or fail some chunks every time.

Each scenario asserts the exit code, the records per status, the requests the server received
and the root cause each failed record keeps. Endpoint settings keep cooldowns, backoffs and the
outage budget short, so each run takes seconds."""

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.main import main
from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from tests.models import materialize_partition, register_model
from tests.outage_server import POISON, OutageServer, unused_port

SHORT = {"cooldown_seconds": 0.2, "retry_backoff_seconds": 0.02, "outage_budget_seconds": 1.0}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no ./dagster_home here: runs go to an ephemeral instance
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "KG_ENDPOINTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path


def corpus(root: Path, n: int, poisoned: frozenset[int] = frozenset()) -> Path:
    """``n`` one-chunk documents; the poisoned ones make the server answer HTTP 500."""
    folder = root / "corpus" / "notes"
    folder.mkdir(parents=True)
    for i in range(n):
        extra = f" {POISON}" if i in poisoned else ""
        text = f"Note {i:02d}: the canal lock raises boats.{extra}"
        (folder / f"note{i:02d}.md").write_text(text, encoding="utf-8")
    return root / "corpus"


def register(url: str, **options: Any) -> None:
    register_model(
        "local",
        url,
        max_retries=2,
        max_concurrent_requests=2,
        options=SHORT | options,
    )


def kg_run(folder: Path) -> Result:
    return CliRunner().invoke(main, ["run", "--model", "local", "--corpus", str(folder)])


def records(root: Path) -> list[dict[str, Any]]:
    lines = (root / "results" / "extractions" / "local.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def statuses(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter(row["status"] for row in rows)


def test_a_server_that_is_not_running_fails_the_run_with_connection_refused(
    workdir: Path,
) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    register(url)
    result = kg_run(corpus(workdir, 6))
    assert result.exit_code == 1, result.output
    assert "succeeded" not in result.output
    assert "failed: 6 of 6 chunks unavailable" in result.output  # the last line says why
    rows = records(workdir)  # every record is written before the step fails
    assert statuses(rows) == {"unavailable": 6}
    for row in rows:
        assert row["error"].startswith(f"cannot reach {url}/v1/chat/completions")
        assert "connection refused" in row["error"] and "cooling down" not in row["error"]
        assert row["stats"]["wall_seconds"] > 0.0  # the real wait, not "in 0.0s"


def test_a_server_killed_mid_run_is_waited_for_and_takes_the_rest_when_back(
    workdir: Path,
) -> None:
    with OutageServer(delay=0.05) as server:
        register(server.base_url, outage_budget_seconds=30.0)
        folder = corpus(workdir, 10)
        server.kill_for(1.5, after_requests=3)  # dies at the 3rd request, back 1.5 s later
        result = kg_run(folder)
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    rows = records(workdir)
    assert statuses(rows) == {"valid": 10}
    # The restarted server answered every chunk that was not answered before it died (most of
    # them: it died at about the 3rd request).
    assert server.restarted_at is not None
    answered_before = sum(s.status == 200 for s in server.served if s.at < server.restarted_at)
    assert answered_before <= 5
    assert server.requests_since(server.restarted_at) >= 10 - answered_before
    assert "local is down after" in result.output and "answers again" in result.output


def test_chunks_that_always_get_http_500_fail_alone_and_the_run_says_so(workdir: Path) -> None:
    # The poisoned chunks come first, so their failures follow each other with no answer in
    # between: they used to cool the endpoint down and fail the healthy chunks unsent.
    with OutageServer(delay=0.05) as server:
        register(server.base_url)
        result = kg_run(corpus(workdir, 20, poisoned=frozenset({0, 1, 2})))
    assert result.exit_code == 1, result.output
    assert "3 of 20 chunks unavailable" in result.output
    rows = records(workdir)
    assert statuses(rows) == {"valid": 17, "unavailable": 3}
    # 17 healthy chunks sent once each; 3 poisoned ones 1 + 2 retries each: 17 + 9 = 26.
    assert len(server.served) == 26
    assert sum(s.status == 500 for s in server.served) == 9
    failed = [row for row in rows if row["status"] == "unavailable"]
    assert {row["document_id"] for row in failed} == {
        "notes/note00",
        "notes/note01",
        "notes/note02",
    }
    for row in failed:
        assert f"{server.base_url}/v1/chat/completions answered HTTP 500" in row["error"]


def test_a_new_run_does_not_inherit_the_previous_runs_cooldown(workdir: Path) -> None:
    server = OutageServer()
    # A cooldown far longer than the test: were it carried over (or the budget the first run
    # spent), the second run would find the endpoint cooling for 10 minutes, and its chunks
    # would fail once the 1 s outage budget ran out.
    register(server.base_url, cooldown_seconds=600.0)
    folder = corpus(workdir, 4)
    first = kg_run(folder)  # nothing listens yet: the outage outlasts the 1 s budget
    assert first.exit_code == 1 and "4 of 4 chunks unavailable" in first.output
    with server:
        second = kg_run(folder)
    assert second.exit_code == 0, second.output
    assert statuses(records(workdir)) == {"valid": 4}
    assert len(server.served) == 4


def test_kg_ingest_with_an_unreachable_model_exits_non_zero_and_keeps_every_record(
    workdir: Path,
) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    register(url)
    folder = corpus(workdir, 3) / "notes"
    files = sorted(str(p) for p in folder.iterdir())
    result = CliRunner().invoke(main, ["ingest", *files, "-o", "graph.json"])
    assert result.exit_code == 1, result.output
    assert "3 of 3 chunks unavailable" in result.output and "connection refused" in result.output
    graph = json.loads((workdir / "graph.json").read_text())
    assert all(len(d["failed_chunks"]) == 1 for d in graph["documents"])
    rows = [json.loads(line) for line in Path(graph["records_file"]).read_text().splitlines()]
    assert statuses(rows) == {"unavailable": 3}


def test_in_dagster_the_step_fails_with_the_root_causes_after_writing_the_records(
    workdir: Path,
) -> None:
    with OutageServer() as server:
        register(server.base_url)
        result = materialize_partition(
            [documents, chunks, extractions],
            "local",
            dg.RunConfig(
                ops={
                    "documents": DocumentsConfig(
                        corpus_dir=str(corpus(workdir, 4, poisoned=frozenset({1})))
                    )
                }
            ),
            raise_on_error=False,
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "extractions"
    data = failure.step_failure_data.user_failure_data
    assert data is not None and data.description is not None
    assert data.description.startswith(
        f"1 of 4 chunks unavailable: {server.base_url}/v1/chat/completions answered HTTP 500"
    )
    assert data.metadata["statuses"].value == {"valid": 3, "unavailable": 1}
    assert statuses(records(workdir)) == {"valid": 3, "unavailable": 1}


def test_run_metadata_gives_the_fallback_rate_and_added_seconds_per_model(workdir: Path) -> None:
    with OutageServer() as cloud:
        register_model("cloud", cloud.base_url, model="big", active=False)
        # Nothing listens locally: each chunk falls back at its first connection failure.
        register(f"http://127.0.0.1:{unused_port()}", fallback_endpoint="cloud")
        result = materialize_partition(
            [documents, chunks, extractions],
            "local",
            dg.RunConfig(ops={"documents": DocumentsConfig(corpus_dir=str(corpus(workdir, 4)))}),
        )
        assert len(cloud.served) == 4
    assert result.success  # every chunk was answered, by the fallback
    metadata = result.asset_materializations_for_node("extractions")[0].metadata
    assert metadata["fallbacks"].value == 4
    assert metadata["fallback_rate"].value == 1.0  # 4 of the 4 chunks that asked "m"
    [row] = metadata["fallbacks_by_model"].value.records
    assert (row.data["model"], row.data["asked"], row.data["fell_back"]) == ("m", 4, 4)
    # A refused connection costs milliseconds, not retries and backoffs.
    assert 0.0 <= row.data["added_seconds_max"] < 1.0
