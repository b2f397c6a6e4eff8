"""The main job and the 10,000-word document on each embedded server, side by side in one run.

    .venv/bin/python benchmarks/embedded_end_to_end.py --slots 4

For each server in turn (llama-cpp-python's server, the embedded default before llama-server, one
request at a time; then llama-server with ``--slots`` parallel slots), alone on a free loopback
port with the same model file and threads: a fresh configuration database registers the model at
that server with as many requests in flight as it has slots, then `kg run --sample 1` (the main
job set-up runs: documents -> chunks -> extractions -> quality_report on the shortest document of
each category) and `benchmarks/end_to_end.py` (a 10,000-word document through `ingest_job`)
run against it as a user runs them, response cache off. llama-cpp-python's server gets the schema
as it did as the embedded default (json_object + schema), or with ``--llama-cpp-python-dialect
gbnf`` the compact grammar llama-server gets, so that both decode under one grammar; llama-server
gets it as the llamacpp provider now sends it (``--llama-server-dialect gbnf``, a compact grammar)
or as llama-server converts it itself (``json_schema``). Needs the `compare` extra for
llama-cpp-python. Writes benchmarks/results/end_to_end-embedded-servers.json (with
``-json_schema`` and ``-llama-cpp-python-gbnf`` in the name for the other choices).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedded_servers import free_port, start_llama_cpp_python

from kg_pipeline.defs.registry import config_from_entry
from kg_pipeline.extraction.records import ExtractionStatus, read_records
from kg_pipeline.serving.endpoints import DEFAULT_ENDPOINT
from kg_pipeline.serving.hardware import hardware_profile
from kg_pipeline.serving.local_server import REQUEST_TIMEOUT_SECONDS, LocalServer, cpu_threads
from kg_pipeline.store.config import ConfigStore
from kg_pipeline.store.database import create_engine

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@contextmanager
def llama_cpp_python(threads: int, state: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = start_llama_cpp_python(port, threads, state / "llama-cpp-python.log")
    try:
        yield f"http://127.0.0.1:{port}", 1
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def llama_server(threads: int, slots: int, state: Path) -> Iterator[tuple[str, int]]:
    server = LocalServer(port=free_port(), threads=threads, slots=slots, state_dir=state)
    server.start()
    try:
        yield server.base_url, slots
    finally:
        server.stop()


def measure(
    label: str, base_url: str, slots: int, dialect: str, words: int, state: Path
) -> dict[str, Any]:
    """`kg run --sample 1` and the end-to-end benchmark against the model at ``base_url``, in a
    configuration database and Dagster instance of their own."""
    home = state / f"{label}-dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home)
    results = state / f"{label}-results"
    env = os.environ | {
        "KG_DATABASE_URL": f"sqlite:///{state / f'{label}.sqlite3'}",
        "DAGSTER_HOME": str(home),
        "KG_RESULTS_DIR": str(results),  # the run's records and report, not the checkout's
    }
    name = f"embedded-{label}"
    entry = DEFAULT_ENDPOINT.model_copy(
        update={
            "name": name,
            "base_url": base_url,
            "max_concurrent_requests": slots,
            "timeout_seconds": REQUEST_TIMEOUT_SECONDS,
            "manage_local_server": False,
            "structured_output": dialect,
        }
    )
    store = ConfigStore(create_engine(env["KG_DATABASE_URL"]))
    store.save(config_from_entry(entry, active=True), updated_by="benchmark")
    started = time.perf_counter()
    run = subprocess.run(
        [str(BIN / "kg"), "run", "--sample", "1", "--model", name],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    main_job = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(
            f"kg run against {label} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
        )
    records = read_records(results / "extractions" / f"{name}.jsonl")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "end_to_end.py"), "--model", name,
         "--words", str(words)],
        env=env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    result_file = ROOT / "benchmarks" / "results" / f"end_to_end-{name}.json"
    end_to_end = json.loads(result_file.read_text())
    result_file.unlink()  # kept inside this benchmark's own result file
    end_to_end.pop("hardware", None)
    return {
        "base_url_port": int(base_url.rsplit(":", 1)[1]),
        "requests_in_flight": slots,
        "main_job": {
            "command": "kg run --sample 1",
            "seconds": round(main_job, 1),
            "chunks": len(records),
            "valid_chunks": sum(r.status is ExtractionStatus.VALID for r in records),
        },
        "end_to_end": end_to_end,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, required=True, help="llama-server's parallel slots.")
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=cpu_threads())
    parser.add_argument(
        "--llama-server-dialect",
        default="gbnf",
        choices=["gbnf", "json_schema"],
        help="How llama-server gets the schema: the compact grammar the llamacpp provider sends "
        "(gbnf), or response_format json_schema (llama-server's own grammar, which lets the "
        "model indent). llama-cpp-python's server gets json_object + schema, as before.",
    )
    parser.add_argument(
        "--llama-cpp-python-dialect",
        default="json_object_schema",
        choices=["json_object_schema", "gbnf"],
        help="How llama-cpp-python's server gets the schema: json_object + schema, as it did as "
        "the embedded default, or the same compact grammar llama-server gets (its `grammar` "
        "field), so that both servers decode under one grammar.",
    )
    args = parser.parse_args()
    if importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit("llama-cpp-python is not installed: pip install -e '.[compare]'")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        with llama_cpp_python(args.threads, state) as (url, slots):
            results["llama-cpp-python"] = measure(
                "llama-cpp-python", url, slots, args.llama_cpp_python_dialect, args.words, state
            )
        with llama_server(args.threads, args.slots, state) as (url, slots):
            results["llama-server"] = measure(
                "llama-server", url, slots, args.llama_server_dialect, args.words, state
            )
    before, after = results["llama-cpp-python"], results["llama-server"]
    out = {
        "threads": args.threads,
        "schema_as": {
            "llama-cpp-python": args.llama_cpp_python_dialect,
            "llama-server": args.llama_server_dialect,
        },
        "words": args.words,
        "servers": results,
        "speedup": {
            "main_job": before["main_job"]["seconds"] / after["main_job"]["seconds"],
            "end_to_end": before["end_to_end"]["seconds_to_stored_extractions"]
            / after["end_to_end"]["seconds_to_stored_extractions"],
        },
        "hardware": hardware_profile(),
    }
    suffix = "" if args.llama_server_dialect == "gbnf" else f"-{args.llama_server_dialect}"
    if args.llama_cpp_python_dialect != "json_object_schema":
        suffix += f"-llama-cpp-python-{args.llama_cpp_python_dialect}"
    path = ROOT / "benchmarks" / "results" / f"end_to_end-embedded-servers{suffix}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["speedup"], indent=1))
    print(path)


if __name__ == "__main__":
    main()
