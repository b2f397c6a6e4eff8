"""Model switch time: what `kg admin extraction reload` costs, and what it saves the first chunk.

    .venv/bin/python benchmarks/switch_time.py [--rounds 3]
    .venv/bin/python benchmarks/switch_time.py --provider ollama \\
        --base-url http://127.0.0.1:11434 --old qwen2.5:7b-instruct --new qwen2.5:14b-instruct

Without --base-url it starts llama-server in router mode with a preset file of two models (the
embedded GGUF under two names, so each switch really loads weights: ``--models-max 1`` holds one
model at a time and loads the one a request names). Each round, in both directions:

- switch: ``model_status.switch`` (unload the old model where the server can, preload the new),
  then a one-token request to the new model: the first request after a preloaded switch;
- cold: the same switch with no preload (what happened before `reload` existed): the first
  one-token request pays the load.

Writes ``results/switch_time-<provider>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from embedded_servers import free_port

from kg_pipeline.serving.llama_build import server_binary
from kg_pipeline.serving.local_model import ensure_model
from kg_pipeline.serving.model_status import switch
from kg_pipeline.store.config import ModelConfig

RESULTS = Path(__file__).resolve().parent / "results"


def start_two_model_server(threads: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    model = str(ensure_model())
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="kg-switch-"))
    presets = "".join(
        f"[{alias}]\nmodel = {model}\nc = 4096\nthreads = {threads}\n\n"
        for alias in ("embedded-a", "embedded-b")
    )
    (folder / "models.ini").write_text("version = 1\n\n" + presets)
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [str(server_binary()), "--models-preset", str(folder / "models.ini"), "--models-max", "1",
         "--host", "127.0.0.1", "--port", str(port), "--no-webui"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 200:
                return process, base_url, folder
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the two-model server did not start; see {folder / 'server.log'}")


def one_token(base_url: str, model: str) -> float:
    started = time.perf_counter()
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "ok"}], "max_tokens": 1},
        timeout=600,
    )
    response.raise_for_status()
    return time.perf_counter() - started


def config(model: str, provider: str, base_url: str) -> ModelConfig:
    name = model.replace(":", "-").replace("/", "-")
    return ModelConfig.model_validate(
        {"name": name, "provider": provider, "model_name": model, "base_url": base_url}
    )


def measure(provider: str, base_url: str, old: str, new: str, rounds: int) -> dict[str, Any]:
    rows = []
    for round_number in range(rounds):
        for before, after in ((old, new), (new, old)):
            one_token(base_url, before)  # the old model loaded and warm
            started = time.perf_counter()
            report = asyncio.run(
                switch(config(before, provider, base_url), config(after, provider, base_url))
            )
            switched = time.perf_counter() - started
            first_after_preload = one_token(base_url, after)
            one_token(base_url, before)  # back to the old model, warm
            cold_first = one_token(base_url, after)  # no preload: this request loads
            warm = one_token(base_url, after)
            rows.append(
                {
                    "round": round_number,
                    "from": before,
                    "to": after,
                    "switch_seconds": switched,
                    "steps": [
                        {"action": s.action, "outcome": s.outcome, "seconds": s.seconds}
                        for s in report.steps
                    ],
                    "first_request_after_switch_seconds": first_after_preload,
                    "first_request_without_preload_seconds": cold_first,
                    "warm_request_seconds": warm,
                }
            )
            print(json.dumps(rows[-1]))
    keys = (
        "switch_seconds",
        "first_request_after_switch_seconds",
        "first_request_without_preload_seconds",
        "warm_request_seconds",
    )
    return {
        "provider": provider,
        "old": old,
        "new": new,
        "rounds": rounds,
        "median": {k: statistics.median(r[k] for r in rows) for k in keys},
        "switches": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="llamacpp")
    parser.add_argument("--base-url")
    parser.add_argument("--old", default="embedded-a")
    parser.add_argument("--new", default="embedded-b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    process = None
    base_url = args.base_url
    if base_url is None:
        process, base_url, _ = start_two_model_server(args.threads)
    try:
        result = measure(args.provider, base_url, args.old, args.new, args.rounds)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    result["server"] = "llama-server router, two models from a preset file" if process else base_url
    out = RESULTS / f"switch_time-{args.provider}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["median"], indent=1))


if __name__ == "__main__":
    main()
