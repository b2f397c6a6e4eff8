"""`kg admin extraction recommend` against the real outside world it reads: Ollama's `/api/show`
(a loopback server speaking its API) for names without a size, and nvidia-smi / rocm-smi as
executables on PATH (small scripts printing what the real tools print)."""

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kg_pipeline.cli.operator import recommend_command
from kg_pipeline.serving.hardware import hardware_profile
from tests.conftest import free_port
from tests.stand_in_server import Reply, StandInServer

# What Ollama answers for phi3:mini (abridged): the exact count, and the rounded size.
PHI3_SHOW = {
    "details": {"family": "phi3", "parameter_size": "3.8B", "quantization_level": "Q4_0"},
    "model_info": {"general.architecture": "phi3", "general.parameter_count": 3821079552},
}


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only the tools a test puts there: no real GPU tool answers instead."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    return path


def tool(bin_dir: Path, name: str, script: str) -> Path:
    """An executable ``name`` that records its arguments and runs ``script`` (sh builtins only:
    nothing else is on PATH)."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" > "{bin_dir}/{name}.args"\n{script}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def ollama() -> Iterator[StandInServer]:
    with StandInServer() as server:
        server.reply("POST", "/api/show", Reply(body=PHI3_SHOW))
        yield server


def recommend(*args: str) -> Result:
    return CliRunner().invoke(recommend_command, list(args), catch_exceptions=False)


def test_a_name_without_a_size_is_sized_by_ollama_show(
    ollama: StandInServer, bin_dir: Path
) -> None:
    result = recommend("--model", "phi3:mini", "--ollama-url", ollama.base_url, "--vram-gib", "8")
    assert result.exit_code == 0, result.output
    assert [(r.path, r.body) for r in ollama.requests] == [("/api/show", {"model": "phi3:mini"})]
    assert "3.82108B parameters (from Ollama /api/show)" in result.output
    # 3.821e9 parameters: FP16 needs 2.4e9 x 3.821 = 9.17e9 > 8 GiB (8.59e9); 8-bit 4.59e9 fits.
    [row] = [line for line in result.output.splitlines() if "<- recommended" in line]
    assert row.startswith("8-bit")
    assert "ollama pull phi3:mini-q8_0" in result.output


def test_the_rounded_size_is_used_when_ollama_gives_no_exact_count(
    ollama: StandInServer, bin_dir: Path
) -> None:
    ollama.reply("POST", "/api/show", Reply(body={"details": {"parameter_size": "3.8B"}}))
    result = recommend("--model", "phi3:mini", "--ollama-url", ollama.base_url, "--vram-gib", "8")
    assert result.exit_code == 0, result.output
    assert "3.8B parameters (from Ollama /api/show (rounded))" in result.output


def test_a_model_ollama_has_not_pulled_names_the_pull_and_the_override(
    ollama: StandInServer, bin_dir: Path
) -> None:
    ollama.reply("POST", "/api/show", Reply(404, {"error": "model 'phi3:mini' not found"}))
    result = recommend("--model", "phi3:mini", "--ollama-url", ollama.base_url)
    assert result.exit_code == 1
    assert "`ollama pull phi3:mini`" in result.output and "--params-b" in result.output


def test_an_ollama_that_does_not_answer_is_named_with_the_fix(bin_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = recommend("--model", "phi3:mini", "--ollama-url", url)
    assert result.exit_code == 1
    assert f"Ollama at {url} did not answer" in result.output
    assert "ollama serve" in result.output and "--params-b" in result.output


def test_a_size_given_by_hand_needs_no_ollama(bin_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = recommend("--model", "phi3:mini", "--params-b", "14", "--ollama-url", url,
                       "--vram-gib", "24")  # fmt: skip
    assert result.exit_code == 0, result.output
    # 14B: FP16 needs 33.6e9 > 24 GiB (25.8e9); 8-bit 16.8e9 fits.
    assert "14B parameters (from --params-b)" in result.output
    assert "ollama pull phi3:mini-q8_0" in result.output


def test_the_largest_gpu_nvidia_smi_lists_is_the_one_advised_for(bin_dir: Path) -> None:
    tool(
        bin_dir, "nvidia-smi", 'printf "NVIDIA RTX A4000, 16376\\nNVIDIA H100 80GB HBM3, 81559\\n"'
    )
    result = recommend("--model", "llama3.1:70b-instruct")
    assert result.exit_code == 0, result.output
    args = (bin_dir / "nvidia-smi.args").read_text()
    assert "--query-gpu=name,memory.total --format=csv,noheader,nounits" in args
    # 81,559 MiB = 79.6 GiB; 70B at 8-bit needs 84e9 bytes <= 85.5e9.
    assert "GPU:    NVIDIA H100 80GB HBM3, 79.6 GiB (nvidia-smi, the largest of 2)" in result.output
    assert "ollama pull llama3.1:70b-instruct-q8_0" in result.output
    assert "--vram-gib with their sum" in result.output


def test_rocm_smi_memory_is_read_from_its_json(bin_dir: Path) -> None:
    cards = {"card0": {"Card series": "AMD Instinct MI210", "VRAM Total Memory (B)": "68702699520",
                       "VRAM Total Used Memory (B)": "10850304"}}  # fmt: skip
    tool(bin_dir, "rocm-smi", f"printf '%s' '{json.dumps(cards)}'")
    result = recommend("--model", "llama3.1:70b-instruct")
    assert result.exit_code == 0, result.output
    assert "--showmeminfo vram --json" in (bin_dir / "rocm-smi.args").read_text()
    # 68,702,699,520 bytes = 64.0 GiB: 8-bit needs 84e9 (no), 4-bit 49e9 (yes).
    assert "GPU:    AMD Instinct MI210, 64.0 GiB (rocm-smi)" in result.output
    assert "ollama pull llama3.1:70b-instruct-q4_K_M" in result.output


def test_without_a_gpu_tool_the_model_runs_on_the_cpu(bin_dir: Path) -> None:
    result = recommend("--model", "llama3.1:8b")
    assert result.exit_code == 0, result.output
    assert "GPU:    none (neither nvidia-smi nor rocm-smi is on PATH)" in result.output
    assert "recommended: 4-bit, CPU only" in result.output
    assert "ollama pull llama3.1:8b-q4_K_M" in result.output


def test_a_failing_nvidia_smi_is_reported_not_taken_for_no_gpu(bin_dir: Path) -> None:
    tool(bin_dir, "nvidia-smi", "echo \"NVIDIA-SMI has failed because it couldn't communicate "
         'with the NVIDIA driver."; exit 9')  # fmt: skip
    result = recommend("--model", "llama3.1:8b")
    assert result.exit_code == 0, result.output
    assert "nvidia-smi failed (exit 9: NVIDIA-SMI has failed" in result.output
    assert "pass --vram-gib N to advise for a GPU anyway" in result.output


def test_the_benchmark_hardware_profile_reads_gpus_the_same_way(bin_dir: Path) -> None:
    tool(bin_dir, "nvidia-smi", 'printf "NVIDIA L4, 23034\\n"')
    assert hardware_profile()["gpus"] == [{"name": "NVIDIA L4", "vram_mib": 23034}]
