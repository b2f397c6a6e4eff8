"""`kg ingest image`: each image described by the registered vision model, concepts extracted
from the description by the text model, one graph per image with the image as its source; a
bad image is named with the reason and the others still produce graphs."""

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg_pipeline.cli.image import ingest_image_command
from tests.models import register_model
from tests.stand_in_server import Reply, StandInServer

FIXTURES = Path(__file__).parent.parent / "fixtures"
SAID = "A slide titled Canal locks. A canal lock raises boats from the lower pool."
SAID_2 = "A photo of an orange disc. A canal lock raises boats, says the caption."
EXTRACTION = {
    "concepts": [{"concept_id": "concept_001", "label": "canal lock",
                  "description": "A gated chamber that raises boats.", "search_terms": []}],
    "instances": [{"concept_id": "concept_001", "quote": "A canal lock raises boats"}],
    "relationships": [],
}  # fmt: skip


@dataclass
class Servers:
    vision: StandInServer
    text: StandInServer


def ollama_answer(text: str) -> Reply:
    return Reply(body={"message": {"content": text}, "done_reason": "stop", "eval_count": 20})


def chat(content: str) -> Reply:
    return Reply(
        body={
            "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 30},
        }
    )


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    monkeypatch.chdir(tmp_path)  # no ./dagster_home here: runs go to an ephemeral instance
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with StandInServer() as vision, StandInServer() as text:
        vision.reply("POST", "/api/chat", ollama_answer(SAID), ollama_answer(SAID_2))
        text.reply("POST", "/v1/chat/completions", chat(json.dumps(EXTRACTION)))
        register_model("text", text.base_url, model="qwen2.5:7b", max_retries=0)
        register_model(
            "llava", vision.base_url, model="llava:13b", provider="ollama", active=False,
            supports_vision=True, max_retries=0,
        )  # fmt: skip
        yield Servers(vision, text)


def test_good_images_get_graphs_and_bad_ones_are_named_with_the_reason(
    servers: Servers, tmp_path: Path
) -> None:
    shutil.copy(FIXTURES / "slide.png", tmp_path / "slide_01.png")
    shutil.copy(FIXTURES / "photo.jpg", tmp_path / "slide_02.jpg")
    shutil.copy(FIXTURES / "huge_100mp.png", tmp_path / "huge.png")
    (tmp_path / "notes.png").write_text("Hello, these are my meeting notes.", encoding="utf-8")
    png = (FIXTURES / "slide.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) * 2 // 3])
    files = ["slide_01.png", "notes.png", "cut.png", "huge.png", "slide_02.jpg"]
    result = CliRunner().invoke(ingest_image_command, [*files, "-o", "ontology.json"])

    assert result.exit_code == 0, result.output
    for name in ("slide_01.png", "slide_02.jpg"):
        line = rf"^{re.escape(name)}: described with llava:13b in \d+\.\d s, extracted 1 concept$"
        assert re.search(line, result.output, re.MULTILINE), result.output
    assert "notes.png: skipped, bad image: not an image" in result.output
    ontology = json.loads((tmp_path / "ontology.json").read_text())
    assert [i["path"] for i in ontology["images"]] == ["slide_01.png", "slide_02.jpg"]
    first = ontology["images"][0]
    assert first["source_type"] == "IMAGE" and first["description"] == SAID
    assert first["vision_model"] == "llava:13b" and first["text_model"] == "qwen2.5:7b"
    assert first["describe_seconds"] > 0 and first["extract_seconds"] > 0
    assert (first["width"], first["height"]) == (320, 180) and len(first["sha256"]) == 64
    assert first["graph"]["concepts"][0]["label"] == "canal lock"
    assert first["graph"]["instances"][0]["quote"] == "A canal lock raises boats"
    reasons = {s["path"]: s["reason"] for s in ontology["skipped"]}
    assert reasons["notes.png"].startswith("bad image: not an image (starts with 'Hello")
    assert reasons["cut.png"].startswith("bad image: truncated or corrupt PNG file")
    assert reasons["huge.png"].startswith("bad image: 10000x10000 is 100 megapixels")
    assert ontology["images"][1]["description"] == SAID_2
    # Bad images never reach a server; each good one costs one description and one extraction,
    # and the text model is asked about the description, not the image.
    assert len(servers.vision.requests) == 2 and len(servers.text.requests) == 2
    asked = [r.body["messages"][-1]["content"] for r in servers.text.requests]
    assert SAID in asked[0] and SAID_2 in asked[1]


def test_the_cloud_fallback_describes_when_the_vision_model_fails(
    servers: Servers, tmp_path: Path
) -> None:
    servers.vision.reply("POST", "/api/chat", Reply(500, {"error": "out of memory"}))
    with StandInServer() as cloud:
        cloud.reply("POST", "/v1/chat/completions", chat(SAID))
        register_model("cloud", cloud.base_url, model="gpt-4o", provider="openai", active=False,
                       supports_vision=True, max_retries=0)  # fmt: skip
        shutil.copy(FIXTURES / "slide.png", tmp_path / "slide_01.png")
        args = ["slide_01.png", "-o", "o.json", "--fallback-vision-model", "cloud"]
        result = CliRunner().invoke(ingest_image_command, args)
    assert result.exit_code == 0, result.output
    assert "slide_01.png: described with gpt-4o in " in result.output
    assert "(fallback after llava failed), extracted 1 concept" in result.output
    [image] = json.loads((tmp_path / "o.json").read_text())["images"]
    assert image["vision_model"] == "gpt-4o" and image["vision_fallback_from"] == "llava"
    content = cloud.requests[0].body["messages"][0]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_an_image_the_vision_server_could_not_describe_fails_the_run_after_writing_the_graph(
    servers: Servers, tmp_path: Path
) -> None:
    servers.vision.reply(
        "POST", "/api/chat", ollama_answer(SAID), Reply(503, {"error": "server busy"})
    )
    shutil.copy(FIXTURES / "slide.png", tmp_path / "slide_01.png")
    shutil.copy(FIXTURES / "photo.jpg", tmp_path / "slide_02.jpg")
    args = ["slide_01.png", "slide_02.jpg", "-o", "ontology.json"]
    result = CliRunner().invoke(ingest_image_command, args)
    assert result.exit_code == 1, result.output
    assert "succeeded" not in result.output
    assert "failed: 1 of 2 images not described: description failed" in result.output
    assert "503" in result.output
    ontology = json.loads((tmp_path / "ontology.json").read_text())
    assert [i["path"] for i in ontology["images"]] == ["slide_01.png"]
    assert [s["path"] for s in ontology["skipped"]] == ["slide_02.jpg"]


def test_without_a_vision_model_the_error_names_the_command_that_marks_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    register_model("text", "http://127.0.0.1:9", model="qwen2.5:7b")
    shutil.copy(FIXTURES / "slide.png", tmp_path / "slide_01.png")
    result = CliRunner().invoke(ingest_image_command, ["slide_01.png", "-o", "o.json"])
    assert result.exit_code == 1
    assert "no registered model reads images" in result.output
    assert "kg admin extraction set" in result.output and "--supports-vision" in result.output
    assert not (tmp_path / "o.json").exists()


def test_a_model_not_marked_for_vision_is_refused_by_name(servers: Servers, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "slide.png", tmp_path / "slide_01.png")
    args = ["slide_01.png", "-o", "o.json", "--vision-model", "text"]
    result = CliRunner().invoke(ingest_image_command, args)
    assert result.exit_code == 1
    assert "kg admin extraction set --name text --supports-vision" in result.output
    assert servers.vision.requests == [] and servers.text.requests == []
