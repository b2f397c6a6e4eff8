"""`extractions` with `routed: true`: each chunk goes to the model the routing rules choose —
here the default rules' code model for a code document — and the partition's own model takes
what no rule places; every record keeps its decision."""

import json
from pathlib import Path

import dagster as dg

from kg_pipeline.definitions import chunks, documents, extractions
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.defs.assets.extractions import ExtractionsConfig
from tests.models import materialize_partition, register_model
from tests.stand_in_server import EMPTY_EXTRACTION, Reply, StandInServer

CODE = "\n".join(
    ["Configure the cache:", "```python", *[f"cache.set('k{i}', {i})  # entry {i}" for i in range(30)],
     "```"]
)  # fmt: skip
PROSE = "The harbour crane lifts containers from the ship. The crane runs on electricity."


def test_a_routed_run_sends_code_to_the_code_model_and_the_rest_to_the_partitions_model(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus" / "mixed"
    corpus.mkdir(parents=True)
    (corpus / "cache.md").write_text(CODE, encoding="utf-8")
    (corpus / "crane.md").write_text(PROSE, encoding="utf-8")
    with StandInServer() as general, StandInServer() as coder:
        for server in (general, coder):
            server.reply("POST", "/v1/chat/completions", EMPTY_EXTRACTION)
        register_model("general", general.base_url, model="general-7b")
        # The default rule code-to-coder targets ollama qwen2.5-coder:7b-instruct.
        register_model("coder", coder.base_url, model="qwen2.5-coder:7b-instruct",
                       provider="ollama", active=False)  # fmt: skip
        coder.reply(
            "POST", "/api/chat",
            Reply(body={"message": {"role": "assistant", "content": json.dumps(
                {"concepts": [], "instances": [], "relationships": []})}, "done": True,
                "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 5}),
        )  # fmt: skip
        result = materialize_partition(
            [documents, chunks, extractions],
            "general",
            run_config=dg.RunConfig(
                ops={
                    "documents": DocumentsConfig(corpus_dir=str(corpus.parent)),
                    "extractions": ExtractionsConfig(routed=True),
                }
            ),
        )
        # Each server extracted one chunk (the run also asks its own model's server what it has
        # loaded, for the status observation).
        assert [r.path for r in coder.requests if r.method == "POST"] == ["/api/chat"]
        assert [r.path for r in general.requests if r.method == "POST"] == ["/v1/chat/completions"]
    records = {r.document_id: r for r in result.output_for_node("extractions")}
    code, prose = records["mixed/cache"], records["mixed/crane"]
    assert code.model == "qwen2.5-coder:7b-instruct" and code.routing is not None
    assert code.routing.rule_name == "code-to-coder"
    assert code.routing.analysis.content_type == "code"
    assert prose.model == "general-7b" and prose.routing is not None
    assert prose.routing.rule_name is None  # no rule placed it: the partition's model
    metadata = result.asset_materializations_for_node("extractions")[0].metadata
    assert metadata["routing"].value == {"code-to-coder": 1, "default": 1}
    # Beside, not over, the model's own single-model records.
    records_dir = tmp_path / "results" / "extractions"
    assert [p.name for p in records_dir.iterdir()] == ["general+routed.jsonl"]
