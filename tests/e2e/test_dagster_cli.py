"""The shell path users take: `dagster asset materialize -m kg_pipeline.definitions`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dagster_cli_materializes_the_ingest_assets(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    (corpus / "tea.md").write_text("Green tea contains caffeine.\n\nIt is brewed cool.")
    (corpus / "bad.md").write_bytes(b"\xff\xfe\x00binary")
    env = os.environ | {"DAGSTER_HOME": str(home), "KG_CORPUS_DIR": str(tmp_path / "corpus")}
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "kg_pipeline.definitions",
         "--select", "documents,chunks"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "RUN_SUCCESS" in output
    assert "skipped document notes/bad.md: binary content" in output
    assert "ASSET_MATERIALIZATION" in output and "chunks" in output
