"""The two embedded servers side by side: llama-cpp-python's server (the embedded default until
llama-server replaced it) and llama.cpp's own llama-server, swept in one run on the same chunks.

    .venv/bin/python benchmarks/embedded_servers.py --concurrency 1,2,4,8 --requests 8

Needs the `compare` extra (`pip install -e '.[compare]'`) for llama-cpp-python's server and the
llama-server that set-up builds. Each server in turn is started alone on a free loopback port with
the same model file, threads and per-request context, swept with `benchmarks/serving.py`'s closed-
loop levels (the real extraction request, streamed, the JSON schema in each server's own
`response_format` dialect, one warm-up per level), then stopped, so that neither competes with the
other for the cores. llama-server gets as many slots as the highest level. Writes
serving-<server>.json/.png for each and serving-embedded-servers.json/.png with both and their
ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from kg_pipeline.perf.sweep import run_sweep
from kg_pipeline.providers import EndpointSettings
from kg_pipeline.providers.base import StructuredOutputDialect
from kg_pipeline.serving.endpoints import benchmark_target
from kg_pipeline.serving.local_model import MODEL_ALIAS, ensure_model
from kg_pipeline.serving.local_server import SLOT_CONTEXT_TOKENS, LocalServer, cpu_threads

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoint(
    name: str, port: int, concurrency: int, dialect: StructuredOutputDialect
) -> EndpointSettings:
    """The embedded model as a benchmark sees it, at this port, with this many in flight and the
    schema in this dialect."""
    settings = benchmark_target(f"http://127.0.0.1:{port}", MODEL_ALIAS, "llamacpp", name)
    return settings.model_copy(
        update={
            "max_concurrent_requests": concurrency,
            "timeout_seconds": 1800.0,
            "structured_output": dialect,
        }
    )


def start_llama_cpp_python(port: int, threads: int, log_path: Path) -> subprocess.Popen[bytes]:
    """The command the embedded server ran before llama-server: one request at a time, with the
    context one request needs."""
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(ensure_model()),
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_threads", str(threads),
        "--n_ctx", str(SLOT_CONTEXT_TOKENS),
    ]  # fmt: skip
    with log_path.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"llama-cpp-python's server exited; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(1)
    process.terminate()
    raise SystemExit(f"llama-cpp-python's server did not answer in 300 s; see {log_path}")


def sweep_llama_cpp_python(
    levels: list[int], requests: int, threads: int, state: Path
) -> dict[str, Any]:
    port = free_port()
    process = start_llama_cpp_python(port, threads, state / "llama-cpp-python.log")
    try:
        settings = endpoint("llama-cpp-python", port, max(levels), "json_object_schema")
        return run_sweep(settings, ROOT / "test_corpus", requests, levels, pid=process.pid)
    finally:
        process.terminate()
        process.wait(30)


def sweep_llama_server(
    levels: list[int], requests: int, threads: int, state: Path
) -> dict[str, Any]:
    server = LocalServer(port=free_port(), threads=threads, slots=max(levels), state_dir=state)
    status = server.start()
    try:
        settings = endpoint(
            f"llama-server-np{server.slots}", server.port, max(levels), "json_schema"
        )
        return run_sweep(settings, ROOT / "test_corpus", requests, levels, pid=status.pid)
    finally:
        server.stop()


def throughput(level: dict[str, Any]) -> float:
    """Streamed tokens per second of the answers that completed: the one count both servers give
    (each streams one token per content chunk; llama-cpp-python's server reports no usage when it
    streams)."""
    return float(level["streamed_chunk_throughput"])


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The figures the choice of server and of its slot count rests on, in streamed tokens/s."""
    by_c = {lv["concurrency"]: lv for lv in after["levels"]}
    old = {lv["concurrency"]: lv for lv in before["levels"]}
    knee = after["knee_concurrency"]
    best_old = max(before["levels"], key=throughput)
    best = max(after["levels"], key=throughput)
    return {
        "knee_concurrency": knee,
        "single_stream_ratio": throughput(by_c[1]) / throughput(old[1]) if 1 in by_c else None,
        "knee_vs_llama_cpp_python_best": throughput(by_c[knee]) / throughput(best_old)
        if knee in by_c
        else None,
        "llama_cpp_python_best_concurrency": best_old["concurrency"],
        "batching_gain_at_knee": throughput(by_c[knee]) / throughput(by_c[1])
        if knee in by_c and 1 in by_c
        else None,
        # The knee's 10 % step rule stops at the first flat step; the level of highest throughput
        # is reported beside it, since one flat step in a noisy run can hide the batching gain.
        "best_concurrency": best["concurrency"],
        "best_vs_llama_cpp_python_best": throughput(best) / throughput(best_old),
        "batching_gain_at_best": throughput(best) / throughput(by_c[1]) if 1 in by_c else None,
        "max_error_rate": {
            "llama-cpp-python": max(lv["error_rate"] for lv in before["levels"]),
            "llama-server": max(lv["error_rate"] for lv in after["levels"]),
        },
    }


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, result in results.items():
        x = [lv["concurrency"] for lv in result["levels"]]
        left.plot(x, [throughput(lv) for lv in result["levels"]], marker="o", label=label)
        right.plot(
            x, [lv["e2el_s"].get("p50", float("nan")) for lv in result["levels"]], marker="o",
            label=f"{label} E2EL p50",
        )  # fmt: skip
    left.set(
        xlabel="concurrency", ylabel="streamed tokens/s (completed answers)", title="Throughput"
    )
    right.set(xlabel="concurrency", ylabel="seconds", title="Latency")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.legend()
    fig.suptitle(f"{MODEL_ALIAS}: the embedded servers side by side (same chunks, one run)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--requests", type=int, default=8, help="Measured requests per level.")
    parser.add_argument("--threads", type=int, default=cpu_threads())
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument(
        "--recombine",
        action="store_true",
        help="Measure nothing: rebuild the side-by-side file from the per-server files in --out.",
    )
    args = parser.parse_args()
    out = Path(args.out)
    if args.recombine:
        results = {
            label: json.loads((out / f"serving-embedded-{label}.json").read_text())
            for label in ("llama-cpp-python", "llama-server")
        }
        levels = [lv["concurrency"] for lv in results["llama-server"]["levels"]]
        write_combined(results, levels, args.threads, out)
        return
    if importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit("llama-cpp-python is not installed: pip install -e '.[compare]'")
    levels = sorted(int(c) for c in args.concurrency.split(","))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "llama-cpp-python": sweep_llama_cpp_python(
                levels, args.requests, args.threads, Path(tmp)
            ),
            "llama-server": sweep_llama_server(levels, args.requests, args.threads, Path(tmp)),
        }
    for label, result in results.items():
        (out / f"serving-embedded-{label}.json").write_text(json.dumps(result, indent=1) + "\n")
    write_combined(results, levels, args.threads, out)


def write_combined(
    results: dict[str, dict[str, Any]], levels: list[int], threads: int, out: Path
) -> None:
    """serving-embedded-servers.json/.png: both servers' levels and the ratios between them."""
    combined = {
        "model": MODEL_ALIAS,
        "threads": threads,
        "requests_per_level": results["llama-server"]["requests_per_level"],
        "concurrency": levels,
        "llama_server_slots": max(levels),
        "comparison": compare(results["llama-cpp-python"], results["llama-server"]),
        "servers": {
            label: [
                {
                    k: lv[k]
                    for k in (
                        "concurrency", "requests", "error_rate", "errors",
                        "streamed_chunk_throughput", "output_throughput", "chunks_per_minute",
                        "ttft_s", "itl_s", "e2el_s", "duration_s",
                    )
                    if k in lv
                }
                for lv in result["levels"]
            ]
            for label, result in results.items()
        },
    }  # fmt: skip
    path = out / "serving-embedded-servers.json"
    path.write_text(json.dumps(combined, indent=1) + "\n")
    plot(results, path.with_suffix(".png"))
    print(json.dumps(combined["comparison"], indent=1))
    print(path)


if __name__ == "__main__":
    main()
