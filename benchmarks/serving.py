"""Serving benchmark: a concurrency sweep, or with --rate Poisson arrivals, of one endpoint.

Closed-loop concurrency levels (or Poisson arrivals at fixed request rates) with the real
extraction request (system prompt + schema + corpus chunks, structured output on), streamed,
warm-up excluded.

    .venv/bin/python benchmarks/serving.py --concurrency 1,2 --requests 4
    .venv/bin/python benchmarks/serving.py --provider ollama --base-url http://127.0.0.1:11434 \\
        --model qwen2.5:7b-instruct --concurrency 1,2,4,8,16 --requests 32
    .venv/bin/python benchmarks/serving.py --provider ollama --base-url http://127.0.0.1:11434 \\
        --model qwen2.5:7b-instruct --rate 0.5,1,2 --requests 32

Without --base-url it starts the embedded llama.cpp model. Writes benchmarks/results/serving-<name>
.json (serving-<name>-poisson.json with --rate) and a PNG of throughput and latency against
concurrency or rate. Metric names follow GuideLLM and `vllm bench serve` (TTFT, TPOT, ITL, E2EL;
output and total token throughput from the server's own usage counts; profiles "concurrent" and
"poisson"). When the server runs on this machine, each level also records its memory, CPU and GPU
use.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from kg_pipeline.perf.sweep import sweep
from kg_pipeline.serving.endpoints import benchmark_target

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--provider", default="llamacpp")
    parser.add_argument("--name")
    parser.add_argument("--concurrency", default="1,2")
    parser.add_argument(
        "--rate",
        help="Comma-separated request rates (requests/s): Poisson arrivals instead of the "
        "concurrency sweep.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the Poisson schedule.")
    parser.add_argument(
        "--server-pid",
        type=int,
        help="The server's process, where it cannot be found from the URL's port (a container).",
    )
    parser.add_argument("--requests", type=int, default=4, help="Measured requests per level.")
    parser.add_argument("--corpus", default=str(ROOT / "test_corpus"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    settings = benchmark_target(args.base_url, args.model, args.provider, args.name)
    rates = [float(r) for r in args.rate.split(",")] if args.rate else []
    path = sweep(
        settings,
        [] if rates else [int(c) for c in args.concurrency.split(",")],
        args.requests,
        Path(args.corpus),
        Path(args.out),
        rates=rates,
        seed=args.seed,
        pid=args.server_pid,
    )
    print(path)


if __name__ == "__main__":
    main()
