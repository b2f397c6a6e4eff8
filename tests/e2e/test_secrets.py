"""A planted API key appears in no log, metadata, report, record or exception — not even as a
fragment, wherever a server's echo of it falls against the point where an error body is cut."""

import asyncio
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.definitions import baseline, chunks, documents, extractions, quality_report
from kg_pipeline.defs.assets.corpus import DocumentsConfig
from kg_pipeline.extraction.prompts import build_messages
from kg_pipeline.providers import EndpointSettings, ProviderUnavailable, create_provider
from kg_pipeline.providers.http import ERROR_BODY_CHARS, NON_JSON_CHARS
from kg_pipeline.providers.redaction import MIN_PREFIX_CHARS
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from tests.models import materialize_partition, register_model
from tests.stand_in_server import Reply, StandInServer
from tests.text_reply_server import TextReply, TextReplyServer

SECRET = "sk-planted-7f3a9c1e5b"
# The key starts at each offset from "wholly before the cut" to "wholly after it": 26 offsets,
# 20 of them splitting it (its first 1 to 20 characters before the cut). Served in order of
# danger, the key split in half first: a run that stops calling a failing endpoint early has
# still met the worst cases (the provider-level test below meets every one).
AROUND_THE_CUT = sorted(
    range(ERROR_BODY_CHARS - len(SECRET) - 2, ERROR_BODY_CHARS + 3),
    key=lambda start: abs(start + len(SECRET) / 2 - ERROR_BODY_CHARS),
)


def echoing_at(start: int, status: int = 401) -> TextReply:
    """An error page that echoes the key with its first character at offset ``start``."""
    lead = "Incorrect API key provided: "
    return TextReply(status, (lead + "." * (start - len(lead)) + SECRET + " was refused.")[:2000])


def test_a_planted_key_is_found_nowhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    dagster_instance: dg.DagsterInstance,
) -> None:
    monkeypatch.setenv("PLANTED_KEY", SECRET)
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    (corpus / "a.md").write_text("A canal lock raises boats.", encoding="utf-8")
    with StandInServer() as server:
        # The server rejects the key and echoes it back, as real APIs do.
        server.reply(
            "POST", "/v1/chat/completions",
            Reply(401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}),
        )  # fmt: skip
        register_model(
            DEFAULT_ENDPOINT.name, server.base_url, model="gpt-4o", provider="openai",
            max_retries=0, options={"api_key_env": "PLANTED_KEY"},
        )  # fmt: skip
        result = materialize_partition(
            [documents, chunks, extractions, baseline, quality_report],
            DEFAULT_ENDPOINT.name,
            instance=dagster_instance,
            run_config=dg.RunConfig(
                ops={"documents": DocumentsConfig(corpus_dir=str(tmp_path / "corpus"))}
            ),
            raise_on_error=False,  # no chunk answered: the run fails, its records are written
        )
        assert server.requests[0].headers["Authorization"] == f"Bearer {SECRET}"  # it was used
    records = written_records(tmp_path)
    assert records[0]["status"] == "unavailable" and "[redacted]" in records[0]["error"]
    assert all(SECRET not in text for text in searched(tmp_path, dagster_instance, result, capfd))


def written_records(tmp_path: Path) -> list[dict[str, Any]]:
    files = (tmp_path / "results").rglob("*.jsonl")
    return [json.loads(line) for p in files for line in p.read_text().splitlines()]


def searched(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    result: dg.ExecuteInProcessResult,
    capfd: pytest.CaptureFixture[str],
) -> list[str]:
    """Everywhere a key could end up: the run's events (metadata, logs, failures), every file
    written (records, reports, the store and its cache), and the terminal."""
    return [
        json.dumps([str(e) for e in instance.all_logs(result.run_id)]),
        *(
            p.read_text(errors="replace")
            for root in (tmp_path / "results", tmp_path / "state")
            for p in root.rglob("*")
            if p.is_file() and p.suffix != ".png"
        ),
        "".join(capfd.readouterr()),
    ]


def test_a_key_echoed_at_every_offset_around_the_cut_leaves_no_fragment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    dagster_instance: dg.DagsterInstance,
) -> None:
    monkeypatch.setenv("PLANTED_KEY", SECRET)
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    for start in AROUND_THE_CUT:  # one document, one chunk, one request per offset
        (corpus / f"n{start}.md").write_text(f"Canal lock number {start}.", encoding="utf-8")
    with TextReplyServer(*(echoing_at(start) for start in AROUND_THE_CUT)) as server:
        register_model(
            DEFAULT_ENDPOINT.name, server.base_url, model="gpt-4o", provider="openai",
            max_retries=0, options={"api_key_env": "PLANTED_KEY"},
        )  # fmt: skip
        result = materialize_partition(
            [documents, chunks, extractions, baseline, quality_report],
            DEFAULT_ENDPOINT.name,
            instance=dagster_instance,
            run_config=dg.RunConfig(
                ops={"documents": DocumentsConfig(corpus_dir=str(tmp_path / "corpus"))}
            ),
            raise_on_error=False,
        )
        calls = [r for r in server.requests if r.method == "POST"]
        assert all(r.headers["Authorization"] == f"Bearer {SECRET}" for r in calls)
    records = written_records(tmp_path)
    assert len(records) == len(AROUND_THE_CUT)  # one per document, each with its cause
    assert all(r["status"] == "unavailable" for r in records)
    assert sum("HTTP 401" in r["error"] for r in records) == len(calls) >= 1
    texts = searched(tmp_path, dagster_instance, result, capfd)
    assert all(SECRET[:MIN_PREFIX_CHARS] not in text for text in texts)


def failure_from(settings: EndpointSettings) -> str:
    async def call() -> str:
        provider = create_provider(settings)
        try:
            await provider.extract(build_messages("A canal lock."), extraction_json_schema())
        except ProviderUnavailable as exc:
            return str(exc)
        finally:
            await provider.aclose()
        raise AssertionError("the server's error was not reported")

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("provider", "status", "cut"),
    [
        ("openai", 401, ERROR_BODY_CHARS),  # a bearer token echoed in an error body
        ("anthropic", 401, ERROR_BODY_CHARS),  # the key in x-api-key, echoed in an error body
        ("anthropic", 200, NON_JSON_CHARS),  # ... in a page that is not JSON (a proxy's)
        ("vllm", 200, NON_JSON_CHARS),  # a bearer token in a page that is not JSON
    ],
)
def test_every_cut_error_message_is_redacted_before_it_is_cut(
    provider: str, status: int, cut: int
) -> None:
    offsets = range(cut - len(SECRET) - 2, cut + 3)
    settings = EndpointSettings(
        name="planted", provider=provider, base_url="", model="m", api_key=SECRET, max_retries=0
    )  # type: ignore[arg-type]
    with TextReplyServer(*(echoing_at(start, status) for start in offsets)) as server:
        messages = [
            failure_from(settings.model_copy(update={"base_url": server.base_url})) for _ in offsets
        ]
    leaked = [m for m in messages if SECRET[:MIN_PREFIX_CHARS] in m]
    assert leaked == [] and len(messages) == len(offsets)
