"""`kg admin extraction export-training-data`: extraction records in, fine-tuning examples out —
the prompt the model was really sent and the extraction it returned, for the chunks whose quality
score meets the threshold; every record left out is counted by reason."""

import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.main import main
from kg_pipeline.cli.operator import export_training_data_command
from kg_pipeline.contract.schema import Concept, Extraction, Instance, Relationship
from kg_pipeline.corpus.chunking import Chunk, chunk_document
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.quality.training_export import grounded_score
from tests.models import register_model
from tests.stand_in_server import Reply, StandInServer

ROOT = Path(__file__).resolve().parents[2]
LOCK = "A canal lock raises boats between two water levels. The lock keeper opens the sluice gates."
WEIR = "A weir holds back a river. Water flows over its crest into the pool below."


def concept(n: int, label: str) -> Concept:
    return Concept(concept_id=f"concept_{n:03d}", label=label, description=f"The {label}.")


def instance(n: int, quote: str) -> Instance:
    return Instance(concept_id=f"concept_{n:03d}", quote=quote)


def relationship(a: str, b: str) -> Relationship:
    return Relationship(from_concept_id=a, to_concept_id=b, relationship_type="PART_OF",
                        confidence=0.8)  # fmt: skip


def record(chunk: Chunk, extraction: Extraction | None, **fields: object) -> ChunkExtraction:
    status = ExtractionStatus.VALID if extraction is not None else ExtractionStatus.MALFORMED
    base: dict[str, object] = {
        "chunk_id": chunk.chunk_id, "document_id": chunk.document_id, "endpoint": "stand-in",
        "provider": "vllm", "model": "m", "vocabulary": "base31", "status": status,
        "extraction": extraction,
    }  # fmt: skip
    return ChunkExtraction.model_validate({**base, **fields})


# Grounded score = mean of (verbatim quotes / instances, relationships between defined concepts /
# relationships, concepts with an instance / concepts), leaving out a share with no denominator.
GROUNDED = Extraction(  # quotes 2/2, relationships 1/1, concepts 2/2: (1 + 1 + 1) / 3 = 1
    concepts=[concept(1, "canal lock"), concept(2, "sluice gates")],
    instances=[instance(1, "A canal lock raises boats"), instance(2, "the sluice gates")],
    relationships=[relationship("concept_002", "concept_001")],
)
NINE_TENTHS = Extraction(  # quotes 4/5 (one paraphrased), no relationships, concepts 2/2:
    concepts=[concept(1, "weir"), concept(2, "river")],  # (4/5 + 1) / 2 = 9/10, exactly
    instances=[instance(1, "A weir"), instance(1, "its crest"), instance(2, "a river"),
               instance(2, "the pool below"), instance(1, "a weir dams the stream")],
)  # fmt: skip
LOOSE = Extraction(  # quotes 2/3, relationships 1/2 (concept_009 is undefined), concepts 2/3:
    concepts=[concept(1, "canal lock"), concept(2, "boats"), concept(3, "lock keeper")],
    instances=[instance(1, "canal lock"), instance(2, "raises boats"),
               instance(2, "ships are lifted")],
    relationships=[relationship("concept_001", "concept_002"),
                   relationship("concept_001", "concept_009")],
)  # (2/3 + 1/2 + 2/3) / 3 = (4/6 + 3/6 + 4/6) / 3 = 11/18 = 0.611  # fmt: skip


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "technical").mkdir(parents=True)
    (root / "technical" / "lock.md").write_text(LOCK, encoding="utf-8")
    (root / "technical" / "weir.md").write_text(WEIR, encoding="utf-8")
    return root


@pytest.fixture
def records_file(tmp_path: Path, corpus: Path) -> Path:
    [lock] = chunk_document("technical/lock", LOCK)
    [weir] = chunk_document("technical/weir", WEIR)
    gone = chunk_document("technical/gone", "A text no longer in the corpus.")[0]
    records = [
        record(lock, GROUNDED),
        record(weir, NINE_TENTHS),
        record(lock, LOOSE, endpoint="second"),
        record(weir, None, error="not JSON"),
        record(gone, GROUNDED),
        record(lock, GROUNDED, prompt_version="kg-extract-v0"),
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    return path


def export(*args: str) -> Result:
    return CliRunner().invoke(export_training_data_command, list(args), catch_exceptions=False)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_grounded_scores_are_the_hand_worked_fractions() -> None:
    [lock] = chunk_document("technical/lock", LOCK)
    [weir] = chunk_document("technical/weir", WEIR)
    assert grounded_score(record(lock, GROUNDED), LOCK) == 1
    assert grounded_score(record(weir, NINE_TENTHS), WEIR) == Fraction(9, 10)
    assert grounded_score(record(lock, LOOSE), LOCK) == Fraction(11, 18)
    assert grounded_score(record(lock, None), LOCK) == 0
    assert grounded_score(record(lock, Extraction()), LOCK) == 0  # nothing to learn from


def test_records_meeting_the_threshold_become_prompt_completion_pairs(
    records_file: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "training_data.jsonl"
    result = export("--ontology", str(records_file), "--corpus", str(corpus), "--min-quality",
                    "0.9", "--output", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    # Kept: GROUNDED (1) and NINE_TENTHS (exactly 0.9 meets 0.9); below: LOOSE (11/18).
    assert "6 records: 2 kept (grounded score >= 0.9, mean 0.950)" in result.output
    assert "1 below 0.9, 1 failed (no extraction)" in result.output
    assert "1 left out: extracted with another prompt version" in result.output
    assert "1 left out: chunk text not found (technical/gone#000-" in result.output
    first, second = lines(out)
    assert set(first) == {"prompt", "completion"}
    messages = build_messages(LOCK)
    prompt = str(first["prompt"])
    assert prompt.startswith("System:\n" + messages.system)
    assert prompt.endswith("User:\n" + messages.user + "\n\nAssistant:\n")
    assert Extraction.model_validate_json(str(first["completion"])) == GROUNDED
    assert str(second["prompt"]).endswith("Text to analyze:\n" + WEIR + "\n\nAssistant:\n")

    # A lower threshold lets the loose extraction in too.
    again = export("--ontology", str(records_file), "--corpus", str(corpus), "--min-quality",
                   "0.6", "--output", str(out))  # fmt: skip
    assert "3 kept" in again.output and len(lines(out)) == 3


def test_the_messages_format_is_the_conversation_sent_plus_the_answer(
    records_file: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "chat.jsonl"
    result = export("--ontology", str(records_file), "--corpus", str(corpus), "--format",
                    "messages", "--output", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    chat = lines(out)[0]["messages"]
    assert isinstance(chat, list)
    assert chat[:-1] == build_messages(LOCK).chat()
    assert chat[-1]["role"] == "assistant"
    assert Extraction.model_validate_json(chat[-1]["content"]) == GROUNDED


def test_the_chatml_format_marks_every_turn(
    records_file: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "chatml.jsonl"
    result = export("--ontology", str(records_file), "--corpus", str(corpus), "--format",
                    "chatml", "--output", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    text = str(lines(out)[0]["text"])
    assert text.startswith("<|im_start|>system\n") and text.count("<|im_start|>") == 5
    assert text.endswith("<|im_start|>assistant\n" + json.dumps(GROUNDED.model_dump(mode="json"),
                         ensure_ascii=False) + "<|im_end|>\n")  # fmt: skip


def test_a_registered_model_name_reads_its_pipeline_records(
    records_file: Path, corpus: Path, tmp_path: Path
) -> None:
    # The pipeline writes results/extractions/<model>.jsonl (KG_RESULTS_DIR, see conftest).
    target = tmp_path / "results" / "extractions" / "stand-in.jsonl"
    target.parent.mkdir(parents=True)
    target.write_text(records_file.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "t.jsonl"
    result = export("--ontology", "stand-in", "--corpus", str(corpus), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert len(lines(out)) == 2


def test_an_unknown_ontology_names_what_to_run(corpus: Path, tmp_path: Path) -> None:
    result = export("--ontology", "nosuch", "--corpus", str(corpus))
    assert result.exit_code == 1
    assert "kg run --model nosuch" in result.output and "kg ingest" in result.output


def test_nothing_good_enough_is_an_error_and_writes_nothing(
    records_file: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "none.jsonl"
    result = export("--ontology", str(records_file), "--corpus", str(corpus), "--score",
                    "reference", "--output", str(out))  # fmt: skip
    assert result.exit_code == 1
    # The temporary corpus has no reference files: the 3 valid, current, found records are out.
    assert "3 left out: their documents have no reference extraction" in result.output
    assert "lower --min-quality" in result.output and not out.exists()


def test_the_reference_score_is_the_documents_concept_f1(tmp_path: Path) -> None:
    # aa_protein_folding_fragment's reference has 4 concepts; this extraction names 2 of them
    # exactly and one unrelated: tp 2, predicted 3, reference 4, F1 = 2*2 / (3 + 4) = 4/7 = 0.571.
    corpus = ROOT / "test_corpus"
    text = (corpus / "academic" / "aa_protein_folding_fragment.md").read_text(encoding="utf-8")
    [chunk] = chunk_document("academic/aa_protein_folding_fragment", text)
    extraction = Extraction(
        concepts=[concept(1, "protein folding"), concept(2, "single-molecule FRET"),
                  concept(3, "zebra crossing")],
        instances=[instance(2, "Single-molecule FRET measurements")],
    )  # fmt: skip
    path = tmp_path / "records.jsonl"
    path.write_text(record(chunk, extraction).model_dump_json() + "\n", encoding="utf-8")
    out = tmp_path / "t.jsonl"
    args = ["--ontology", str(path), "--corpus", str(corpus), "--score", "reference",
            "--output", str(out)]  # fmt: skip
    kept = export(*args, "--min-quality", "0.57")
    assert kept.exit_code == 0, kept.output
    assert "1 kept (reference score >= 0.57, mean 0.571)" in kept.output
    dropped = export(*args, "--min-quality", "0.58")
    assert dropped.exit_code == 1 and "1 below 0.58" in dropped.output


EXTRACTION = {
    "concepts": [{"concept_id": "concept_001", "label": "canal lock", "description": "A gate.",
                  "search_terms": []}],
    "instances": [{"concept_id": "concept_001", "quote": "canal lock"}],
    "relationships": [],
}  # fmt: skip


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInServer]:
    monkeypatch.chdir(tmp_path)  # no ./dagster_home here: runs go to an ephemeral instance
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", Reply(body={
            "choices": [{"message": {"content": json.dumps(EXTRACTION)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 30},
        }))  # fmt: skip
        register_model("stand-in", server.base_url, max_retries=0)
        yield server


def test_an_ingested_graph_exports_the_prompts_its_model_was_sent(
    model: StandInServer, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text("A canal lock raises boats.", encoding="utf-8")
    (tmp_path / "b.md").write_text("A weir holds back a river.", encoding="utf-8")
    ingest = CliRunner().invoke(main, ["ingest", "a.md", "b.md", "-o", "graph.json"])
    assert ingest.exit_code == 0, ingest.output
    result = export("--ontology", "graph.json", "--format", "messages", "--output", "t.jsonl")
    assert result.exit_code == 0, result.output
    # The same answer for both files: "canal lock" is a quote of a.md (score 1), not of b.md
    # (quotes 0/1, concepts 1/1: (0 + 1) / 2 = 0.5).
    assert "2 records: 1 kept" in result.output and "1 below 0.9" in result.output
    [example] = lines(tmp_path / "t.jsonl")
    sent = [r.body["messages"] for r in model.requests if r.path == "/v1/chat/completions"]
    chat = example["messages"]
    assert isinstance(chat, list)
    assert chat[:-1] in sent and "A canal lock raises boats." in chat[-2]["content"]
