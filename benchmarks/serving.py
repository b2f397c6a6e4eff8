"""Serving benchmark: a closed-loop concurrency sweep with the real extraction request (system
prompt + schema + corpus chunks, structured output on), streamed, warm-up excluded.

    .venv/bin/python benchmarks/serving.py --concurrency 1,2 --requests 4
    .venv/bin/python benchmarks/serving.py --provider ollama --base-url http://127.0.0.1:11434 \\
        --model qwen2.5:7b-instruct --concurrency 1,2,4,8,16 --requests 32

Without --base-url it starts the embedded llama.cpp model. Writes benchmarks/results/serving-<name>
.json and a PNG of throughput and latency against concurrency. Metric names follow GuideLLM and
`vllm bench serve` (TTFT, TPOT, ITL, E2EL; output and total token throughput from the server's own
usage counts).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kg_pipeline.endpoints import benchmark_target
from kg_pipeline.perf.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--provider", default="llamacpp")
    parser.add_argument("--name")
    parser.add_argument("--concurrency", default="1,2")
    parser.add_argument("--requests", type=int, default=4, help="Measured requests per level.")
    parser.add_argument("--corpus", default=str(ROOT / "test_corpus"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    settings = benchmark_target(args.base_url, args.model, args.provider, args.name)
    path = sweep(
        settings,
        [int(c) for c in args.concurrency.split(",")],
        args.requests,
        Path(args.corpus),
        Path(args.out),
    )
    print(path)


if __name__ == "__main__":
    main()
