"""A routed run end to end: three loopback OpenAI-compatible servers registered as three models,
chunks of different kinds sent to the right one by the routing rules, and every record carrying
the decision that sent it there."""

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from kg_pipeline.corpus.chunking import Chunk, chunk_document
from kg_pipeline.extraction.extract import extract_chunks
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus
from kg_pipeline.extraction.routing import Router, load_router
from kg_pipeline.providers import create_provider
from kg_pipeline.store.config import ConfigStore
from kg_pipeline.store.routing import RoutingRule, RoutingStore
from tests.models import register_model
from tests.stand_in_server import EMPTY_EXTRACTION, StandInServer, chat_completion

COMPLETIONS = "/v1/chat/completions"

SIMPLE = "The bakery opens at seven. Ana bakes the bread."
# One sentence of 30 words: average sentence length 30 > 25.
COMPLEX = (
    "The committee that reviewed the proposal over three long meetings in the spring decided, "
    "after much debate about costs and benefits and risks, to approve the plan for the harbour."
)
CODE = "Install it:\n\n```sh\npip install kg\nkg run\n```"  # 4 of 5 lines are code
# 16 words in one sentence: neither simple (< 15) nor complex (> 25), so no rule matches.
MEDIUM = "This sentence has exactly sixteen words in it so that it is neither simple nor complex."


@pytest.fixture
def servers() -> Iterator[dict[str, StandInServer]]:
    with StandInServer() as fast, StandInServer() as big, StandInServer() as coder:
        for server in (fast, big, coder):
            server.reply("POST", COMPLETIONS, EMPTY_EXTRACTION)
        yield {"fast": fast, "big": big, "coder": coder}


def plan(servers: dict[str, StandInServer], coder_concurrency: int = 4) -> Router:
    """Three registered models (fast is the active one, the default) and the default plan's
    three rules pointing at them."""
    register_model("big", servers["big"].base_url, model="big-14b", active=False)
    register_model(
        "coder",
        servers["coder"].base_url,
        model="coder-7b",
        active=False,
        max_concurrent_requests=coder_concurrency,
    )
    register_model("fast", servers["fast"].base_url, model="fast-7b", active=True)
    config = ConfigStore()
    rules = RoutingStore(config.engine)
    for name, condition, target, priority in (
        ("code-to-coder", 'content_type == "code"', "coder-7b", 10),
        ("complex-to-14b", 'complexity == "complex"', "big-14b", 20),
        ("simple-to-fast", 'complexity == "simple"', "fast-7b", 30),
    ):
        rules.save(
            RoutingRule(
                rule_name=name,
                condition=condition,
                target_provider="vllm",
                target_model=target,
                priority=priority,
            )
        )
    return load_router(config, build=lambda c: create_provider(c.settings()), rules=rules)


def run(router: Router, chunks: list[Chunk]) -> list[ChunkExtraction]:
    async def routed() -> list[ChunkExtraction]:
        try:
            return await extract_chunks(None, chunks, route=router)
        finally:
            for provider in router.built:
                await provider.aclose()

    return asyncio.run(routed())


def test_each_kind_of_chunk_reaches_its_models_server_and_its_record_says_why(
    servers: dict[str, StandInServer],
) -> None:
    router = plan(servers)
    texts = {"simple": SIMPLE, "complex": COMPLEX, "code": CODE, "medium": MEDIUM}
    chunks = [chunk_document(kind, text)[0] for kind, text in texts.items()]
    records = {r.document_id: r for r in run(router, chunks)}

    assert all(r.status is ExtractionStatus.VALID for r in records.values())
    assert {kind: r.endpoint for kind, r in records.items()} == {
        "simple": "fast",
        "complex": "big",
        "code": "coder",
        "medium": "fast",  # the default (active) model
    }
    decisions = {kind: r.routing for kind, r in records.items()}
    assert all(d is not None for d in decisions.values())
    assert {kind: d.rule_name for kind, d in decisions.items() if d} == {
        "simple": "simple-to-fast",
        "complex": "complex-to-14b",
        "code": "code-to-coder",
        "medium": None,
    }
    medium, complex_, code = decisions["medium"], decisions["complex"], decisions["code"]
    assert medium and medium.fallback_reason == "no active rule matched"
    assert complex_ and complex_.analysis.avg_sentence_length == 30.0
    assert code and (code.analysis.content_type, code.analysis.code_lines) == ("code", 4)
    # The servers saw exactly their chunks, asked for by their model's name.
    seen = {name: [r.body["model"] for r in s.requests] for name, s in servers.items()}
    assert seen == {"fast": ["fast-7b", "fast-7b"], "big": ["big-14b"], "coder": ["coder-7b"]}
    # The decision travels with the record (as stored in the results file).
    again = ChunkExtraction.model_validate_json(records["code"].model_dump_json())
    assert again.routing == records["code"].routing


def test_a_routed_endpoint_keeps_its_own_bound_on_calls_in_flight(
    servers: dict[str, StandInServer],
) -> None:
    empty = '{"concepts": [], "instances": [], "relationships": []}'
    servers["coder"].reply("POST", COMPLETIONS, chat_completion(empty, delay=0.3))
    router = plan(servers, coder_concurrency=1)
    chunks = [chunk_document(f"code-{i}", CODE)[0] for i in range(3)]
    records = run(router, chunks)
    assert [r.endpoint for r in records] == ["coder"] * 3
    arrivals = sorted(r.at for r in servers["coder"].requests)
    # One call at a time: each request arrives after the previous 0.3 s answer.
    assert all(later - earlier >= 0.25 for earlier, later in itertools.pairwise(arrivals))


def test_a_run_needs_a_provider_or_a_route() -> None:
    with pytest.raises(TypeError, match="needs a provider, or a route"):
        asyncio.run(extract_chunks(None, []))
