"""Resource sampling from /proc and the GPU tools, and finding a server's process from its URL.

The processes sampled are real ones started here; the GPU tools are small scripts put on PATH in
their place, printing what nvidia-smi and rocm-smi print (or failing as they fail).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kg_pipeline.perf.processes import NOT_LOCAL, process_tree, server_pid
from kg_pipeline.perf.server_usage import ResourceSampler, read_gpu

SLEEP = shutil.which("sleep") or "/bin/sleep"  # found before a test narrows PATH
NO_GPU_TOOL = "not available: neither nvidia-smi nor rocm-smi is on PATH (no GPU to read)"


def _wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 10.0) -> None:
    """Wait for a state (not a duration): fails only if it never comes."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def no_gpu_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty folder of ours, into which a test may put a fake GPU tool."""
    tools = tmp_path / "bin"
    tools.mkdir()
    monkeypatch.setenv("PATH", str(tools))
    return tools


def _tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([SLEEP, "60"])
    # Sleeping (state S) once the loader has finished and nanosleep has begun.
    stat = Path(f"/proc/{process.pid}/stat")
    _wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "S", "sleep to sleep")
    yield process
    process.kill()
    process.wait()


def test_an_idle_process_is_measured_as_using_no_cpu_rather_than_unknown(
    sleeper: subprocess.Popen[bytes], no_gpu_tools: Path
) -> None:
    sampler = ResourceSampler(sleeper.pid, interval=0.02).start()
    _wait_for(lambda: sampler.readings >= 4, "four readings")
    summary = sampler.stop()
    # start + at least 3 in the loop + stop; CPU needs two readings, so one figure fewer.
    assert summary["readings"] >= 5
    assert summary["rss_mib"]["samples"] == summary["readings"]
    assert summary["cpu_percent"]["samples"] == summary["readings"] - 1
    assert 0 < summary["rss_mib"]["max"] < 100  # coreutils sleep: a few hundred KiB to a few MiB
    assert summary["cpu_percent"]["max"] == 0.0 and summary["cpu_seconds"] == 0.0
    assert summary["gpu_util_percent"] == summary["vram_used_mib"] == NO_GPU_TOOL


BURNER = """
import sys, time
ballast = b"\\x01" * (64 << 20)  # written, so resident (a zeroed allocation may stay unmapped)
print("ready", flush=True)
sys.stdin.readline()
start = time.process_time()
while time.process_time() - start < 0.3:
    pass
print("done", flush=True)
time.sleep(60)
"""


def test_memory_and_cpu_of_the_servers_children_are_counted(no_gpu_tools: Path) -> None:
    # The sampled process is a shell; the memory and the work are its child's, as an Ollama
    # runner's are the `ollama serve` process's.
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f"exec 3<&0; {sys.executable} -c '{BURNER}' <&3 & wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert shell.stdin and shell.stdout
    try:
        assert shell.stdout.readline().strip() == "ready"
        assert len(process_tree(shell.pid)) == 2
        sampler = ResourceSampler(shell.pid, interval=0.05).start()
        shell.stdin.write("go\n")
        shell.stdin.flush()
        assert shell.stdout.readline().strip() == "done"
        summary = sampler.stop()
    finally:
        for pid in reversed(process_tree(shell.pid)):
            os.kill(pid, 9)
        shell.wait()
    assert summary["processes"] == 2
    assert summary["rss_mib"]["max"] >= 64  # the child's 64 MiB ballast
    # The child burned 0.3 s of CPU inside the window (by its own CPU clock, so however busy the
    # machine is); /proc counts in 1/100 s ticks, so allow a few ticks either side, plus the
    # child's reading of "go" and printing of "done".
    assert 0.27 <= summary["cpu_seconds"] <= 0.45


def test_a_process_that_is_gone_is_reported_not_available(no_gpu_tools: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    summary = ResourceSampler(finished.pid, interval=10).start().stop()
    assert summary["rss_mib"].startswith(f"not available: cannot read /proc/{finished.pid}")
    assert summary["cpu_percent"] == summary["cpu_seconds"] == summary["rss_mib"]


def test_nvidia_smi_figures_are_averaged_and_summed_over_gpus(no_gpu_tools: Path) -> None:
    _tool(no_gpu_tools, "nvidia-smi", "printf '37, 1024\\n45, 2048\\n'")
    # Utilisation: the mean of 37 and 45 = 41 %; VRAM: 1024 + 2048 = 3072 MiB.
    assert read_gpu() == {"gpu_util_percent": 41.0, "vram_used_mib": 3072.0}


def test_a_figure_nvidia_smi_cannot_give_names_what_it_printed(no_gpu_tools: Path) -> None:
    _tool(no_gpu_tools, "nvidia-smi", "printf '[N/A], 1024\\n'")
    assert read_gpu() == {
        "gpu_util_percent": "not available: nvidia-smi reports '[N/A]' for utilization.gpu",
        "vram_used_mib": 1024.0,
    }


def test_a_failing_nvidia_smi_gives_its_failure_not_zeros(no_gpu_tools: Path) -> None:
    _tool(no_gpu_tools, "nvidia-smi", "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    reading = read_gpu()
    assert set(reading) == {"gpu_util_percent", "vram_used_mib"}
    for value in reading.values():
        assert isinstance(value, str) and value.startswith("not available: nvidia-smi failed")
        assert "exit status 9" in value


def test_rocm_smi_is_read_where_nvidia_smi_is_absent(no_gpu_tools: Path) -> None:
    cards = {
        "card0": {"GPU use (%)": "30", "VRAM Total Used Memory (B)": str(512 * 1024**2)},
        "card1": {"GPU use (%)": "50", "VRAM Total Used Memory (B)": str(1536 * 1024**2)},
    }
    _tool(no_gpu_tools, "rocm-smi", f"printf '%s' '{json.dumps(cards)}'")
    # Mean of 30 and 50 = 40 %; 512 + 1536 = 2048 MiB.
    assert read_gpu() == {"gpu_util_percent": 40.0, "vram_used_mib": 2048.0}


def test_no_gpu_tool_on_path_says_so(no_gpu_tools: Path) -> None:
    assert read_gpu() == dict.fromkeys(("gpu_util_percent", "vram_used_mib"), NO_GPU_TOOL)


def test_the_process_listening_on_a_loopback_port_is_found() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert server_pid(f"http://127.0.0.1:{port}/v1") == os.getpid()
        assert server_pid(f"http://localhost:{port}") == os.getpid()


def test_a_server_in_another_process_is_found_by_its_port() -> None:
    code = (
        "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
        "print(s.getsockname()[1], flush=True); time.sleep(60)"
    )
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout
        port = int(server.stdout.readline())
        assert server_pid(f"http://127.0.0.1:{port}") == server.pid
    finally:
        server.kill()
        server.wait()


def test_a_port_nobody_listens_on_is_not_available() -> None:
    with socket.socket() as bound:  # bound, not listening: the port stays ours and silent
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        assert server_pid(f"http://127.0.0.1:{port}") == (
            f"not available: nothing on this machine listens on port {port}"
        )


def test_a_server_on_another_machine_is_not_sampled() -> None:
    assert server_pid("http://gpu-box.example.org:8000") == NOT_LOCAL
    assert server_pid("http://10.1.2.3:11434") == NOT_LOCAL
