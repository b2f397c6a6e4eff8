"""`./scripts/setup` timed as a new user meets it: on a fresh clone with nothing cached, then again.

    .venv/bin/python benchmarks/setup_time.py

Clones the repository's committed HEAD into a temporary folder and runs `scripts/setup` there with
an empty pip cache and an empty kg cache (``KG_CACHE_DIR``: no compiled llama-server, no
assembled model), as on a machine that never ran it: pip downloads and installs every package,
`kg local build` compiles llama-server, the model is assembled, the embedded server starts and the
main job runs on the sample. Then a second fresh clone runs it with both caches as the first left
them, as another checkout or a CI job on the same machine does. Each run's install time (the
script's own "setup done in" line), main-job time and total are recorded, and its server
stopped. The machine's other package sources (the registries pip is pointed at) are as they are.
Writes benchmarks/results/setup_time.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from kg_pipeline.serving.hardware import hardware_profile

ROOT = Path(__file__).resolve().parents[1]


def timed_setup(label: str, state: Path, env: dict[str, str]) -> dict[str, Any]:
    checkout = state / label
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
    started = time.perf_counter()
    done = subprocess.run(["scripts/setup"], cwd=checkout, env=env, capture_output=True, text=True)
    total = time.perf_counter() - started
    subprocess.run(
        [str(checkout / ".venv" / "bin" / "kg"), "local", "stop"],
        cwd=checkout, env=env, capture_output=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{label} set-up failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    install = re.search(r"setup done in (\d+)s", done.stdout)
    main_job = re.search(r"main job finished in (\d+)s", done.stdout)
    return {
        "seconds_total": round(total, 1),
        "seconds_installing": int(install.group(1)) if install else None,
        "seconds_main_job": int(main_job.group(1)) if main_job else None,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        env = os.environ | {
            "KG_CACHE_DIR": str(state / "kg-cache"),
            "PIP_CACHE_DIR": str(state / "pip-cache"),
        }
        for name in (
            "VIRTUAL_ENV",
            "PYTHONPATH",
            "DAGSTER_HOME",
            "KG_DATABASE_URL",
            "KG_RESULTS_DIR",
        ):
            env.pop(name, None)
        runs = {"cold": timed_setup("cold", state, env), "warm": timed_setup("warm", state, env)}
        shutil.rmtree(state, ignore_errors=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    out = {"command": "scripts/setup", "commit": commit, "runs": runs,
           "hardware": hardware_profile()}  # fmt: skip
    path = ROOT / "benchmarks" / "results" / "setup_time.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(runs, indent=1))
    print(path)


if __name__ == "__main__":
    main()
