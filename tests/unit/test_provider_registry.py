"""The provider registry: one table every other place derives from, which cannot drift from the
``ProviderName`` Literal, and whose README names the files a new provider touches."""

import asyncio
import re
from pathlib import Path
from typing import get_args

import pytest

from kg_pipeline.cli.register import set_command
from kg_pipeline.cli.routing import add_command
from kg_pipeline.middleware.cached import provider_kind
from kg_pipeline.providers import PROTOCOL_CLASSES, OpenAICompatibleProvider, create_provider
from kg_pipeline.providers.base import EndpointSettings, ProviderName
from kg_pipeline.providers.registry import (
    PROVIDER_NAMES,
    PROVIDERS,
    WIRE_PROTOCOLS,
    UnknownProvider,
    provider_spec,
    speaks,
)
from kg_pipeline.providers.vision import VISION_WIRE_FORMATS

ROOT = Path(__file__).parents[2]
README = ROOT / "kg_pipeline" / "providers" / "README.md"


def settings(provider: str, **values: object) -> EndpointSettings:
    return EndpointSettings.model_validate(
        {"name": "e", "provider": provider, "base_url": "http://127.0.0.1:9", "model": "m"} | values
    )


def test_the_registry_holds_exactly_the_names_of_the_provider_literal() -> None:
    assert sorted(PROVIDER_NAMES) == sorted(get_args(ProviderName))
    assert len(set(PROVIDER_NAMES)) == len(PROVIDER_NAMES)
    assert all(PROVIDERS[name].name == name for name in PROVIDER_NAMES)


def test_the_cli_offers_the_registry_names_in_registry_order() -> None:
    # The order users have always seen: the local servers first, the cloud APIs last.
    assert PROVIDER_NAMES == ("ollama", "vllm", "openai_compatible", "llamacpp", "openai",
                              "anthropic")  # fmt: skip
    for command in (set_command, add_command):
        [option] = [p for p in command.params if p.name in ("provider",)]
        assert tuple(option.type.choices) == PROVIDER_NAMES  # type: ignore[attr-defined]


def test_an_unknown_provider_is_refused_with_the_names_there_are() -> None:
    assert provider_spec("vllm").protocol == "openai"
    names = "ollama, vllm, openai_compatible, llamacpp, openai, anthropic"
    with pytest.raises(
        UnknownProvider, match=rf"^unknown provider 'ollam'; choose one of: {names}$"
    ):
        provider_spec("ollam")
    with pytest.raises(UnknownProvider):
        speaks("ollam", "ollama")


def test_every_protocol_has_a_class_and_a_vision_format() -> None:
    assert set(PROTOCOL_CLASSES) == set(WIRE_PROTOCOLS)
    assert set(VISION_WIRE_FORMATS) == set(WIRE_PROTOCOLS)
    assert {spec.protocol for spec in PROVIDERS.values()} == set(WIRE_PROTOCOLS)


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_create_provider_builds_the_class_of_the_protocol_the_name_speaks(name: str) -> None:
    async def build() -> type:
        provider = create_provider(settings(name))
        try:
            return type(provider)
        finally:
            await provider.aclose()

    assert asyncio.run(build()) is PROTOCOL_CLASSES[provider_spec(name).protocol]


@pytest.mark.parametrize(
    ("name", "dialect"),
    [
        ("vllm", "json_schema"),
        ("openai", "json_schema"),
        ("llamacpp", "gbnf"),
        ("openai_compatible", "auto"),
    ],
)
def test_an_endpoint_configured_auto_takes_its_providers_dialect(name: str, dialect: str) -> None:
    async def resolved() -> str:
        provider = OpenAICompatibleProvider(settings(name))
        await provider.aclose()
        return provider.dialect

    assert asyncio.run(resolved()) == dialect == provider_spec(name).structured_output


def test_a_provider_of_another_protocol_is_not_sent_openai_requests() -> None:
    with pytest.raises(ValueError, match="'anthropic' speaks the anthropic protocol"):
        OpenAICompatibleProvider(settings("anthropic"))


def test_only_ollama_has_a_response_cache_of_its_own() -> None:
    # Unchanged from before the registry: every stored cache key depends on these values.
    kinds = {name: provider_kind(settings(name)) for name in PROVIDER_NAMES}
    assert kinds == {name: "ollama" if name == "ollama" else "openai_compatible"
                     for name in PROVIDER_NAMES}  # fmt: skip


def test_the_readme_names_files_that_exist_and_every_file_a_new_provider_touches() -> None:
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"`(kg_pipeline/[\w/]+\.py|tests/[\w/]+\.py)`", text))
    concrete = {path for path in named if "<" not in path}
    assert concrete, "the README names no files"
    assert all((ROOT / path).is_file() for path in concrete), sorted(
        p for p in concrete if not (ROOT / p).is_file()
    )
    # A provider of an existing protocol: its registry entry, the Literal, its tests.
    for path in ("kg_pipeline/providers/registry.py", "kg_pipeline/providers/base.py",
                 "tests/unit/test_provider_registry.py", "kg_pipeline/providers/__init__.py",
                 "kg_pipeline/providers/vision.py"):  # fmt: skip
        assert f"`{path}`" in text, path
    assert "`kg_pipeline/providers/<protocol>.py`" in text
