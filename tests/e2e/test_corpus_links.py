"""A link in the corpus folder to a file elsewhere (``/etc/passwd``) is not followed out of the
corpus: the file is never sent to a model nor written into the records, and the `documents`
metadata names the link with its reason."""

import json
from pathlib import Path

import dagster as dg

from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from tests.models import materialize_partition, register_model
from tests.stand_in_server import EMPTY_EXTRACTION, StandInServer

PRIVATE = "root:x:0:0:root:/root:/bin/bash"


def test_a_link_out_of_the_corpus_is_skipped_with_its_reason_and_never_sent(
    tmp_path: Path, dagster_instance: dg.DagsterInstance
) -> None:
    private = tmp_path / "etc" / "passwd"
    private.parent.mkdir()
    private.write_text(PRIVATE + "\n", encoding="utf-8")
    notes = tmp_path / "corpus" / "notes"
    notes.mkdir(parents=True)
    (notes / "lock.md").write_text("A canal lock raises boats.", encoding="utf-8")
    (notes / "passwd.md").symlink_to(private)
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", EMPTY_EXTRACTION)
        register_model(DEFAULT_ENDPOINT.name, server.base_url, max_retries=0)
        result = materialize_partition(
            [documents, chunks, extractions],
            DEFAULT_ENDPOINT.name,
            instance=dagster_instance,
            run_config=dg.RunConfig(
                ops={"documents": DocumentsConfig(corpus_dir=str(tmp_path / "corpus"))}
            ),
        )
        sent = json.dumps([r.body for r in server.requests if r.method == "POST"])
    assert [d.document_id for d in result.output_for_node("documents")] == ["notes/lock"]
    assert "canal lock" in sent and PRIVATE not in sent
    written = "".join(p.read_text() for p in (tmp_path / "results").rglob("*.jsonl"))
    assert "notes/lock" in written and PRIVATE not in written
    metadata = result.asset_materializations_for_node("documents")[0].metadata
    assert metadata["rejected"].value == 1
    rejected = metadata["rejected_files"].value
    assert "`notes/passwd.md`" in str(rejected) and "outside the corpus folder" in str(rejected)
