"""A model registered with replicas (`kg admin extraction set --replica URL=SLOTS`): the
`extractions` asset spreads its chunks over every server of the model, least busy first."""

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from kg_pipeline.cli.main import main
from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.store.config import ConfigStore
from tests.models import materialize_partition
from tests.stand_in_server import EMPTY_EXTRACTION, Reply, StandInServer

MODELS = Reply(body={"object": "list", "data": [{"id": "m"}]})


def test_chunks_spread_over_the_replicas_of_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    for n in range(8):
        (corpus / f"n{n}.md").write_text(f"Note {n}: a canal lock raises boats.", encoding="utf-8")
    slow = Reply(body=EMPTY_EXTRACTION.body, delay=0.2)
    with StandInServer() as gpu0, StandInServer() as gpu1:
        for server in (gpu0, gpu1):
            server.reply("GET", "/v1/models", MODELS)
            server.reply("POST", "/v1/chat/completions", slow)
        result = CliRunner().invoke(
            main,
            ["admin", "extraction", "set", "--provider", "vllm", "--model", "m", "--name", "fleet",
             "--base-url", gpu0.base_url, "--max-concurrent-requests", "1",
             "--replica", f"{gpu1.base_url}=1"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        # Registering checked both servers.
        assert [r.path for r in gpu1.requests] == ["/v1/models"]
        assert ConfigStore().get("fleet").options.replicas[0].slots == 1
        run = materialize_partition(
            [documents, chunks, extractions],
            "fleet",
            run_config=dg.RunConfig(
                ops={"documents": DocumentsConfig(corpus_dir=str(corpus.parent))}
            ),
        )
        calls = {name: sum(r.path.endswith("/completions") for r in s.requests)
                 for name, s in (("gpu0", gpu0), ("gpu1", gpu1))}  # fmt: skip
    records = run.output_for_node("extractions")
    assert len(records) == 8 and all(r.status.value == "valid" for r in records)
    # Equal servers, one slot each: an even split, give or take the chunk at the end.
    assert sum(calls.values()) == 8 and min(calls.values()) >= 3, calls
    served = Counter(r.stats.served_by for r in records if r.stats)
    assert served == Counter({"fleet": calls["gpu0"], "fleet#1": calls["gpu1"]})
