"""One run in a process of its own, for tests/test_pools.py: the provider stack of an endpoint
with LIMIT slots, pooled through the Dagster instance at HOME, sends REQUESTS_PER_RUN requests at
once (more than the slots, as a run whose own bound is higher might) and prints which came back
valid. Kept out of the test module so that a child imports only what it runs (seconds each).

    python -m tests.pool_client HOME BASE_URL TAG READY_FILE GO_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import dagster as dg

from kg_pipeline.contract.messages import PromptMessages
from kg_pipeline.contract.schema import extraction_json_schema
from kg_pipeline.defs.pools import Backoff, EndpointPools
from kg_pipeline.middleware.stack import provider_stack
from kg_pipeline.providers import EndpointSettings

LIMIT = 2
REQUESTS_PER_RUN = 4
FAST = Backoff(first=0.02, most=0.2)  # a test waits less between polls than a real run does


def probe(tag: str) -> PromptMessages:
    """A request the test server can tell apart: ``probe <tag>`` is in its prompt."""
    return PromptMessages(
        system="Extract.", example_user="", example_assistant="", user=f"probe {tag}"
    )


def run_client(home: str, base_url: str, tag: str, ready: str, go: str) -> list[bool]:
    with dg.DagsterInstance.from_config(home) as instance:
        pools = EndpointPools(instance, f"run-{tag}", "extractions", backoff=FAST)
        endpoint = EndpointSettings(
            name=f"gpu-{tag}", provider="vllm", base_url=base_url, model="m",
            max_concurrent_requests=LIMIT, max_retries=0,
        )  # fmt: skip
        provider = provider_stack(endpoint, LIMIT, wrap_pool=pools.wrap)
        schema = extraction_json_schema()
        Path(ready).touch()
        while not Path(go).exists():  # the runs start their requests in the same instant
            time.sleep(0.005)

        async def run() -> list[bool]:
            calls = [provider.extract(probe(f"{tag}-{n}"), schema) for n in range(REQUESTS_PER_RUN)]
            results = await asyncio.gather(*calls)
            await provider.aclose()
            return [r.extraction is not None for r in results]

        return asyncio.run(run())


if __name__ == "__main__":
    print(json.dumps(run_client(*sys.argv[1:6])))
