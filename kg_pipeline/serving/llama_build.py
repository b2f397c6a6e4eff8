"""Build llama.cpp's own ``llama-server`` from source we already pin, once per machine.

The pinned ``llama-cpp-python`` sdist carries llama.cpp under ``vendor/llama.cpp`` (server and
batched-bench included), so the embedded server is compiled from a file whose checksum is known,
with no new source to trust. The build is CPU-native (``GGML_NATIVE``), so the binaries are cached
outside the checkout keyed by the sdist's hash and the CPU: a second set-up, another checkout or a
CI job on the same kind of machine reuses them, as pip reuses a compiled wheel; a different CPU
gets a build of its own rather than one that may use instructions it lacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kg_pipeline.errors import KgError
from kg_pipeline.serving.local_model import cache_dir

SDIST_REQUIREMENT = "llama-cpp-python==0.3.36"
SDIST_FILENAME = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
_VENDORED = "llama_cpp_python-0.3.36/vendor/llama.cpp"
SERVER = "llama-server"
BATCHED_BENCH = "llama-batched-bench"
TARGETS = (SERVER, BATCHED_BENCH)
_SCRATCH = "llama-build-"
# Static, CPU-native, nothing fetched at build time (no web UI from Hugging Face, no HTTPS client
# for model downloads: the model is ours, assembled by local_model.py) and nothing built that the
# server does not need.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
)


Progress = Callable[[int, int], None]  # (steps done, steps in all)
_STEP = re.compile(r"^\[(\d+)/(\d+)\]|^\[\s*(\d+)%\]")


class BuildError(KgError, RuntimeError):
    """llama-server could not be built or found; the message says what to do next."""


@dataclass(frozen=True)
class Build:
    directory: Path
    seconds: float | None  # None when an earlier build was reused

    def binary(self, name: str = SERVER) -> Path:
        return self.directory / name


def cpu_key() -> str:
    """What a CPU-native binary depends on: the architecture, the CPU model and its instruction
    set flags (the same model name can come with different flags in a VM)."""
    facts = [platform.machine()]
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags", "Features")):
                facts.append(line.split(":", 1)[1].strip())
                if len(facts) >= 3:
                    break
    except OSError:
        facts.append(platform.processor())
    return hashlib.sha256("\n".join(facts).encode()).hexdigest()[:12]


def build_dir(root: Path | None = None) -> Path:
    return (root or cache_dir() / "llama.cpp") / f"{SDIST_SHA256[:12]}-{cpu_key()}"


def find_build(root: Path | None = None) -> Build | None:
    directory = build_dir(root)
    if all(os.access(directory / name, os.X_OK) for name in TARGETS):
        return Build(directory, None)
    return None


def server_binary(root: Path | None = None) -> Path:
    """The cached llama-server for this machine; it is built by set-up, not on first use, since
    a compile takes minutes and a server start should not."""
    found = find_build(root)
    if found is None:
        raise BuildError(
            f"llama-server is not built for this machine (looked in {build_dir(root)}); "
            "run `kg local build` (or ./scripts/install), which compiles it once in a few minutes"
        )
    return found.binary()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(folder: Path) -> Path:
    """The sdist, through pip (which serves it from its cache when it has it), verified."""
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--no-binary", ":all:", "--dest", str(folder), SDIST_REQUIREMENT,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    sdist = folder / SDIST_FILENAME
    if done.returncode != 0 or not sdist.is_file():
        raise BuildError(
            f"could not download {SDIST_REQUIREMENT} with pip (exit {done.returncode}): "
            f"{done.stderr.strip()[-800:]}; check the package index is reachable"
        )
    return sdist


def verify_sdist(sdist: Path) -> None:
    actual = _sha256(sdist)
    if actual != SDIST_SHA256:
        raise BuildError(
            f"{sdist.name} has sha256 {actual}, expected {SDIST_SHA256}: the download is corrupt "
            "or not the pinned release; delete it from pip's cache (`pip cache purge`) and retry"
        )


def _extract_llama_cpp(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(f"{_VENDORED}/")]
        archive.extractall(into, members=members, filter="data")
    return into / _VENDORED


def _run_logged(command: list[str], log: Path, on_step: Progress | None = None) -> None:
    """Runs ``command`` with its output in ``log``; ``on_step`` hears each "[done/total]" step
    that ninja prints (make's "[ NN%]" reads as NN of 100)."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            step = _STEP.match(line)
            if step and on_step:
                done, total = step.group(1, 2) if step.group(1) else (step.group(3), "100")
                on_step(int(done), int(total))
        returncode = process.wait()
    if returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(
            f"`{command[0]} {command[1]}` failed (exit {returncode}); full log: {log}\n{tail}"
        )


def _tools() -> None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise BuildError(
            f"building llama-server needs {' and '.join(missing)}: install them "
            "(Debian/Ubuntu: apt-get install cmake build-essential)"
        )


def build(
    root: Path | None = None,
    sdist: Path | None = None,
    jobs: int | None = None,
    on_step: Progress | None = None,
) -> Build:
    """The cached build, or a fresh one. Atomic: the binaries appear under their final name only
    once all of them are built, so an interrupted build is never mistaken for a finished one."""
    found = find_build(root)
    if found is not None:
        return found
    _tools()
    target = build_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_scratch(target.parent)
    started = time.monotonic()
    prefix = f"{_SCRATCH}{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=target.parent) as scratch:
        work = Path(scratch)
        log = work / "build.log"
        source = _extract_llama_cpp(_verified(sdist, work), work / "src")
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        _run_logged(["cmake", "-S", str(source), "-B", str(work / "build"), *generator,
                     *CMAKE_FLAGS], log)  # fmt: skip
        _run_logged(["cmake", "--build", str(work / "build"), "--target", *TARGETS,
                     "--parallel", str(jobs or os.cpu_count() or 1)], log, on_step)  # fmt: skip
        staged = work / "bin"
        staged.mkdir()
        for name in TARGETS:
            shutil.copy2(work / "build" / "bin" / name, staged / name)
        seconds = time.monotonic() - started
        facts = {"sdist_sha256": SDIST_SHA256, "cpu_key": cpu_key(), "machine":
                 platform.machine(), "cmake_flags": list(CMAKE_FLAGS),
                 "build_seconds": round(seconds, 1)}  # fmt: skip
        (staged / "build.json").write_text(json.dumps(facts, indent=2) + "\n")
        shutil.copy2(log, staged / "build.log")
        try:
            staged.rename(target)
        except OSError:  # another set-up finished the same build first: use theirs
            if find_build(root) is None:
                raise
    return Build(target, seconds)


def _remove_abandoned_scratch(folder: Path) -> None:
    """A build killed outright leaves its scratch folder (a source tree and objects, hundreds of
    MB) behind; the next build removes those whose process is gone, not a running one's."""
    for scratch in folder.glob(f"{_SCRATCH}*"):
        pid = scratch.name.removeprefix(_SCRATCH).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _verified(sdist: Path | None, work: Path) -> Path:
    path = sdist or fetch_sdist(work)
    verify_sdist(path)
    return path
