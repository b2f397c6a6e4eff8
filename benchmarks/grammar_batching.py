"""How much of llama-server's batching gain the JSON-schema grammar costs, and where it goes.

    .venv/bin/python benchmarks/grammar_batching.py --slots 4 --requests 8

Starts llama-server (as `kg local start` does, ``--slots`` slots, on a free loopback port) and
sends the real extraction requests (the corpus's shortest chunks, the prompt and sampling the
pipeline sends, output capped at ``--max-tokens``) at concurrency 1 and at ``--slots``, with and
without the schema in `response_format` (without it, the same prompt asks for the same JSON, so
answers are of like length and kind). Throughput is the server's own count: completion tokens over
the level's wall time. The grammar's cost per output token is the difference of the two variants'
seconds per token at each level; the gain from batching is the throughput at ``--slots`` over
that at 1. Also records the server's own decode speed (``timings.predicted_per_second``) per
request and, where `perf` is installed and allowed, the hottest symbols of the server while it
decodes with the grammar at ``--slots``. Writes benchmarks/results/grammar_batching.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from embedded_servers import free_port

from kg_pipeline.chunking import chunk_document
from kg_pipeline.documents import load_corpus
from kg_pipeline.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.local_server import LocalServer, cpu_threads
from kg_pipeline.perf.hardware import hardware_profile
from kg_pipeline.prompts import build_messages
from kg_pipeline.providers import OpenAICompatibleProvider
from kg_pipeline.schema import extraction_json_schema

ROOT = Path(__file__).resolve().parents[1]


def requests(base_url: str, count: int, max_tokens: int, grammar: bool) -> list[dict[str, Any]]:
    docs, _ = load_corpus(ROOT / "test_corpus")
    chunks = sorted(
        (c for d in docs for c in chunk_document(d.document_id, d.text)), key=lambda c: len(c.text)
    )
    settings = DEFAULT_ENDPOINT.model_copy(
        update={"base_url": base_url, "max_output_tokens": max_tokens}
    )
    provider = OpenAICompatibleProvider(settings)
    schema = extraction_json_schema()
    payloads = []
    for i in range(count):
        payload = provider.build_request(
            build_messages(chunks[i % len(chunks)].text), schema, "json_schema"
        )
        if not grammar:
            payload.pop("response_format")
        payloads.append(payload)
    return payloads


async def level(base_url: str, payloads: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    in_flight = asyncio.Semaphore(concurrency)
    answers: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=1800) as client:

        async def send(payload: dict[str, Any]) -> None:
            async with in_flight:
                response = await client.post("/v1/chat/completions", json=payload)
            response.raise_for_status()
            answers.append(response.json())

        started = time.perf_counter()
        await asyncio.gather(*(send(p) for p in payloads))
        seconds = time.perf_counter() - started
    tokens = sum(a["usage"]["completion_tokens"] for a in answers)
    return {
        "concurrency": concurrency,
        "requests": len(answers),
        "seconds": round(seconds, 2),
        "completion_tokens": tokens,
        "output_tokens_per_s": tokens / seconds,
        "seconds_per_output_token": seconds / tokens,
        "server_decode_tokens_per_s_median": statistics.median(
            a["timings"]["predicted_per_second"] for a in answers
        ),
    }


def perf_profile(pid: int, seconds: float) -> list[str] | str:
    """The server's hottest symbols over ``seconds`` (``perf record`` of its threads)."""
    if shutil.which("perf") is None:
        return "not measured: perf is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        record = subprocess.run(
            ["perf", "record", "-F", "499", "-g", "-o", str(data), "-p", str(pid), "--",
             "sleep", str(seconds)],
            capture_output=True, text=True,
        )  # fmt: skip
        if record.returncode != 0:
            return f"not measured: perf record failed: {record.stderr.strip()[-300:]}"
        report = subprocess.run(
            ["perf", "report", "-i", str(data), "--no-children", "--sort", "symbol",
             "--stdio", "--percent-limit", "1.5", "-g", "none"],
            capture_output=True, text=True,
        )  # fmt: skip
    return [line.strip() for line in report.stdout.splitlines() if line.strip()[:1].isdigit()][:20]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--threads", type=int, default=cpu_threads())
    parser.add_argument("--perf-seconds", type=float, default=20.0)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(
            port=free_port(), threads=args.threads, slots=args.slots, state_dir=Path(tmp)
        )
        status = server.start()
        try:
            url = server.base_url
            # Every slot reads the fixed prompt prefix once before anything is measured.
            asyncio.run(level(url, requests(url, args.slots, 8, True), args.slots))
            for grammar in (True, False):
                payloads = requests(url, args.requests, args.max_tokens, grammar)
                key = "json_schema" if grammar else "no_grammar"
                results[key] = [
                    asyncio.run(level(url, payloads, c)) for c in sorted({1, args.slots})
                ]
            profile: list[str] | str = "not measured"
            if status.pid is not None:
                payloads = requests(url, args.slots * 2, args.max_tokens, True)

                async def profiled() -> list[str] | str:
                    load = asyncio.create_task(level(url, payloads, args.slots))
                    await asyncio.sleep(5)  # past the prompts, into decoding
                    found = await asyncio.to_thread(perf_profile, status.pid, args.perf_seconds)
                    await load
                    return found

                profile = asyncio.run(profiled())
        finally:
            server.stop()
    summary: dict[str, Any] = {}
    for key, levels in results.items():
        one, many = levels[0], levels[-1]
        summary[key] = {
            "batching_gain": many["output_tokens_per_s"] / one["output_tokens_per_s"],
        }
    for i, name in enumerate(("at_1", f"at_{args.slots}")):
        summary[f"grammar_ms_per_output_token_{name}"] = 1000 * (
            results["json_schema"][i]["seconds_per_output_token"]
            - results["no_grammar"][i]["seconds_per_output_token"]
        )
    out = {
        "slots": args.slots,
        "threads": args.threads,
        "requests_per_level": args.requests,
        "max_tokens": args.max_tokens,
        "levels": results,
        "summary": summary,
        "perf_top_symbols_json_schema_at_slots": profile,
        "hardware": hardware_profile(),
    }
    path = ROOT / "benchmarks" / "results" / "grammar_batching.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(path)


if __name__ == "__main__":
    main()
