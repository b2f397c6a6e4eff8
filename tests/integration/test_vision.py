"""Describing images against loopback servers speaking each vision wire format, the local ->
cloud fallback, and the checks that keep bad image files from ever reaching a server."""

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

from kg_pipeline.corpus.images import BadImage, prepare_image
from kg_pipeline.middleware.vision import describe_image
from kg_pipeline.providers.base import EndpointSettings, ProviderUnavailable
from kg_pipeline.providers.vision import Description
from tests.stand_in_server import Reply, StandInServer

FIXTURES = Path(__file__).parent.parent / "fixtures"
PROMPT = "Describe this image."
SAID = "A slide titled Canal locks: a canal lock raises boats from the lower pool."


def endpoint(server: StandInServer, provider: str, model: str, **fields: Any) -> EndpointSettings:
    return EndpointSettings(
        name=f"{provider}-{model}",
        provider=provider,  # type: ignore[arg-type]
        base_url=server.base_url,
        model=model,
        max_retries=0,
        **fields,
    )


def ollama_answer(text: str = SAID) -> Reply:
    return Reply(
        body={
            "message": {"role": "assistant", "content": text},
            "done_reason": "stop",
            "prompt_eval_count": 612,
            "eval_count": 41,
        }
    )


def openai_answer(text: str = SAID) -> Reply:
    return Reply(
        body={
            "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 850, "completion_tokens": 38},
        }
    )


def describe(
    settings: EndpointSettings, path: Path, fallback: EndpointSettings | None = None
) -> Description:
    image = prepare_image(path)
    return asyncio.run(describe_image(settings, image.data, image.mime, PROMPT, fallback))


def test_ollama_receives_the_image_as_base64_in_the_message_images() -> None:
    png = (FIXTURES / "slide.png").read_bytes()
    with StandInServer() as server:
        server.reply("POST", "/api/chat", ollama_answer())
        description = describe(endpoint(server, "ollama", "llava:13b"), FIXTURES / "slide.png")
    [request] = server.requests
    assert request.path == "/api/chat"
    [message] = request.body["messages"]
    assert message["role"] == "user" and message["content"] == PROMPT
    assert message["images"] == [base64.b64encode(png).decode()]
    assert request.body["stream"] is False and request.body["model"] == "llava:13b"
    assert description.text == SAID and description.model == "llava:13b"
    assert (description.prompt_tokens, description.tokens) == (612, 41)
    assert description.seconds > 0 and description.fallback_from is None


@pytest.mark.parametrize("provider", ["openai_compatible", "vllm", "openai"])
def test_openai_compatible_servers_receive_the_image_as_a_data_url(provider: str) -> None:
    jpeg = (FIXTURES / "photo.jpg").read_bytes()
    with StandInServer() as server:
        server.reply("POST", "/v1/chat/completions", openai_answer())
        description = describe(endpoint(server, provider, "qwen2.5-vl"), FIXTURES / "photo.jpg")
    [request] = server.requests
    [message] = request.body["messages"]
    text_part, image_part = message["content"]
    assert text_part == {"type": "text", "text": PROMPT}
    assert image_part == {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()},
    }
    assert description.text == SAID and (description.prompt_tokens, description.tokens) == (850, 38)


def test_anthropic_receives_a_base64_image_block_and_its_key_never_shows_in_errors() -> None:
    key = "sk-ant-secret-0123456789"
    with StandInServer() as server:
        server.reply(
            "POST",
            "/v1/messages",
            Reply(
                body={
                    "content": [{"type": "text", "text": SAID}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 1500, "output_tokens": 40},
                }
            ),
        )
        settings = endpoint(server, "anthropic", "claude-sonnet-4-5", api_key=SecretStr(key))
        description = describe(settings, FIXTURES / "slide.png")
        server.reply("POST", "/v1/messages", Reply(401, {"error": f"invalid x-api-key {key}"}))
        with pytest.raises(ProviderUnavailable) as failed:
            describe(settings, FIXTURES / "slide.png")
    request = server.requests[0]
    assert request.headers["x-api-key"] == key
    image_block, text_block = request.body["messages"][0]["content"]
    assert image_block["source"]["media_type"] == "image/png"
    assert (
        image_block["source"]["data"]
        == base64.b64encode((FIXTURES / "slide.png").read_bytes()).decode()
    )
    assert text_block == {"type": "text", "text": PROMPT}
    assert description.text == SAID and description.tokens == 40
    assert key not in str(failed.value) and "HTTP 401" in str(failed.value)


def test_a_vision_server_answering_500_falls_back_to_the_cloud_model() -> None:
    with StandInServer() as local, StandInServer() as cloud:
        local.reply("POST", "/api/chat", Reply(500, {"error": "model runner crashed"}))
        cloud.reply("POST", "/v1/chat/completions", openai_answer())
        primary = endpoint(local, "ollama", "llava:13b")
        description = describe(primary, FIXTURES / "slide.png", endpoint(cloud, "openai", "gpt-4o"))
    assert len(local.requests) == 1 and len(cloud.requests) == 1
    assert description.model == "gpt-4o" and description.text == SAID
    assert description.fallback_from == "ollama-llava:13b"
    assert description.fallback_reason == "error" and description.fallback_added_seconds > 0


def test_when_the_fallback_fails_too_the_error_names_both_failures() -> None:
    with StandInServer() as local, StandInServer() as cloud:
        local.reply("POST", "/api/chat", Reply(500, {"error": "model runner crashed"}))
        cloud.reply("POST", "/v1/chat/completions", Reply(503, {"error": "overloaded"}))
        with pytest.raises(ProviderUnavailable) as failed:
            describe(
                endpoint(local, "ollama", "llava:13b"),
                FIXTURES / "slide.png",
                endpoint(cloud, "openai", "gpt-4o"),
            )
    message = str(failed.value)
    assert "model runner crashed" in message and "the fallback failed too" in message
    assert "overloaded" in message and local.base_url in message and cloud.base_url in message


def test_a_transient_503_is_retried_before_any_fallback() -> None:
    with StandInServer() as server:
        server.reply(
            "POST",
            "/api/chat",
            Reply(503, {"error": "loading model"}, headers={"Retry-After": "0"}),
            ollama_answer(),
        )
        description = describe(
            endpoint(server, "ollama", "llava:13b").model_copy(update={"max_retries": 1}),
            FIXTURES / "slide.png",
        )
    assert description.attempts == 2 and len(server.requests) == 2


def test_a_text_file_named_png_is_not_an_image(tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("Hello, these are my meeting notes.", encoding="utf-8")
    with pytest.raises(BadImage) as bad:
        prepare_image(fake)
    assert str(bad.value) == (
        "not an image (starts with 'Hello, these are'); supported: PNG, JPEG, GIF, WebP"
    )


def test_a_truncated_png_is_named_truncated(tmp_path: Path) -> None:
    png = (FIXTURES / "slide.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(png[: len(png) * 2 // 3])
    with pytest.raises(BadImage, match=r"^truncated or corrupt PNG file .*re-export"):
        prepare_image(cut)


def test_a_truncated_jpeg_is_named_truncated(tmp_path: Path) -> None:
    jpeg = (FIXTURES / "photo.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(BadImage, match=r"^truncated or corrupt JPEG file"):
        prepare_image(cut)


def test_a_100_megapixel_image_is_refused_with_its_size_and_the_fix() -> None:
    with pytest.raises(BadImage) as bad:
        prepare_image(FIXTURES / "huge_100mp.png")
    # 10000 * 10000 = 100,000,000 pixels = 100 megapixels, over the 50-megapixel limit.
    assert str(bad.value) == (
        "10000x10000 is 100 megapixels, over the limit of 50; downscale it, e.g. "
        "`convert in.png -resize 4000x4000 out.png`"
    )


def test_empty_and_missing_files_say_so(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(BadImage, match=r"not an image \(it is empty\)"):
        prepare_image(tmp_path / "empty.png")
    with pytest.raises(BadImage, match="no such file"):
        prepare_image(tmp_path / "missing.png")


def test_png_and_jpeg_are_sent_unchanged() -> None:
    for name, mime in [("slide.png", "image/png"), ("photo.jpg", "image/jpeg")]:
        image = prepare_image(FIXTURES / name)
        assert image.data == (FIXTURES / name).read_bytes() and image.mime == mime
        assert image.notes == []


def test_a_large_image_is_downscaled_to_the_max_side_keeping_its_shape(tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    Image.new("1", (3000, 1500), 1).save(wide)
    image = prepare_image(wide, max_side=2048)
    # 3000x1500 scaled by 2048/3000: 1500 * 0.6827 = 1024.
    assert (image.width, image.height) == (3000, 1500)
    assert (image.sent_width, image.sent_height) == (2048, 1024)
    assert image.notes == ["downscaled from 3000x1500 to 2048x1024"]
    assert Image.open(io.BytesIO(image.data)).size == (2048, 1024)


def test_a_gif_is_sent_as_png(tmp_path: Path) -> None:
    gif = tmp_path / "chart.gif"
    Image.open(FIXTURES / "slide.png").save(gif)
    image = prepare_image(gif)
    assert image.mime == "image/png" and image.notes == ["sent as PNG (was GIF)"]
    assert Image.open(io.BytesIO(image.data)).format == "PNG"
