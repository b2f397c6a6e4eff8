"""Building llama-server: the pinned source is verified before anything is compiled, a build is
found again by the sdist's hash and the CPU, and a failed step says where its log is."""

import os
import tomllib
from pathlib import Path

import pytest

from kg_pipeline.serving.llama_build import (
    SDIST_REQUIREMENT,
    SDIST_SHA256,
    TARGETS,
    BuildError,
    _run_logged,
    build,
    build_dir,
    cpu_key,
    server_binary,
)

ROOT = Path(__file__).resolve().parents[2]


def fake_build(root: Path) -> Path:
    """What a finished build leaves behind: the executables under the key's folder."""
    folder = build_dir(root)
    folder.mkdir(parents=True)
    for name in TARGETS:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


def test_a_corrupt_sdist_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    sdist = tmp_path / "llama_cpp_python-0.3.36.tar.gz"
    sdist.write_bytes(b"not the release")
    with pytest.raises(BuildError, match=rf"expected {SDIST_SHA256}.*pip cache purge"):
        build(root=tmp_path / "cache", sdist=sdist)
    assert not build_dir(tmp_path / "cache").exists()
    assert list((tmp_path / "cache").iterdir()) == []  # its scratch folder is gone too


def test_a_missing_server_names_the_command_that_builds_it(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"kg local build"):
        server_binary(tmp_path)


def test_a_build_is_found_again_by_the_sdist_hash_and_the_cpu(tmp_path: Path) -> None:
    folder = fake_build(tmp_path)
    assert folder.name == f"{SDIST_SHA256[:12]}-{cpu_key()}"
    found = build(root=tmp_path)  # no sdist given, none fetched: the cached build answers
    assert found.seconds is None and found.binary() == folder / "llama-server"
    assert server_binary(tmp_path) == folder / "llama-server"


def test_build_steps_are_heard_as_ninja_and_make_print_them(tmp_path: Path) -> None:
    heard: list[tuple[int, int]] = []
    log = tmp_path / "build.log"
    script = "printf '[1/3] Building a\\n[3/3] Linking b\\n[ 50%%] Built c\\nother\\n'"
    _run_logged(["sh", "-c", script], log, lambda done, total: heard.append((done, total)))
    assert heard == [(1, 3), (3, 3), (50, 100)]
    assert "Linking b" in log.read_text()


def test_a_failed_step_reports_its_exit_code_log_and_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    with pytest.raises(BuildError, match=rf"exit 3\); full log: {log}\n(.|\n)*no compiler"):
        _run_logged(["sh", "-c", "echo no compiler; exit 3"], log)


def test_the_compare_extra_pins_the_release_llama_server_is_built_from() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    name, version = SDIST_REQUIREMENT.split("==")
    assert extras["compare"] == [f"{name}[server]=={version}"]
    # Set-up compiles llama.cpp once: the extras it installs do not build it a second time.
    assert not any(req.startswith(name) for req in extras["local"] + extras["dev"])


def test_a_build_removes_scratch_left_by_a_killed_build_but_not_a_running_ones(
    tmp_path: Path,
) -> None:
    abandoned = tmp_path / "llama-build-999999999-x1"  # above any pid: that process is gone
    running = tmp_path / f"llama-build-{os.getpid()}-x2"
    for scratch in (abandoned, running):
        (scratch / "src").mkdir(parents=True)
    corrupt = tmp_path / "llama_cpp_python-0.3.36.tar.gz"
    corrupt.write_bytes(b"x")
    with pytest.raises(BuildError):
        build(root=tmp_path, sdist=corrupt)
    assert not abandoned.exists() and running.exists()
