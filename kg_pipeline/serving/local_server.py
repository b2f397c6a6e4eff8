"""Start, stop and inspect the embedded model server: llama.cpp's own ``llama-server``, built by
set-up (kg_pipeline/serving/llama_build.py), so that the pipeline runs with nothing else installed.

The server is a separate process, bound to loopback only, found again through a pid file; the
pipeline reaches it over HTTP through the same provider as vLLM, so nothing in the pipeline is
special-cased for it. It decodes ``slots`` requests at once (continuous batching); llama-server
splits its context evenly across the slots, so the context asked for is ``slots`` times what one
request needs. Its HTTP threads answer ``/health``, ``/v1/models`` and ``/slots`` while every slot
is busy, and a request whose client goes away is cancelled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kg_pipeline.errors import KgError
from kg_pipeline.providers.registry import LOCAL_SERVER_PORT
from kg_pipeline.serving.llama_build import server_binary
from kg_pipeline.serving.local_model import MODEL_ALIAS, cache_dir, ensure_model
from kg_pipeline.settings import LOCAL_SLOTS, LOCAL_THREADS

DEFAULT_HOST = "127.0.0.1"
# KG_LOCAL_PORT, else 8089: the llamacpp provider's usual address in the registry is this server.
DEFAULT_PORT = LOCAL_SERVER_PORT
# Requests decoded at once: the level of highest throughput in the serving sweep on a 2-core CPU
# with the real extraction request (benchmarks/results/serving-embedded-servers.json: 32.0, 33.2,
# 47.8 and 46.5 output tokens/s at 1, 2, 4 and 8 in flight). The registered embedded model takes
# the same number as its max_concurrent_requests, so its Dagster pool never sends more than the
# server has slots.
DEFAULT_SLOTS = LOCAL_SLOTS.get()
# One request's worst case, as this model's tokenizer counts it: the longest fixed prompt prefix
# (kg-extract-v6 with the Re-DocRED vocabulary, 2,728 tokens), a 1500-word chunk (~2,500 tokens
# of technical prose) and the 4096-token output budget make ~9,300; rounded up so that denser
# text (code, numbers: more tokens per word) still fits. tests/integration/test_embedded_model.py
# checks every prompt version against it.
SLOT_CONTEXT_TOKENS = 12_288
# What a client of the embedded model waits for one answer: its own slot decoding a full output
# budget, at the per-stream speed of a shared 2-core CPU, with room to spare.
REQUEST_TIMEOUT_SECONDS = 900.0


def cpu_threads() -> int:
    """``KG_LOCAL_THREADS``, else the cores this process may run on (a container's share, not
    the host's count). All cores is fastest on a quiet machine; where other work competes for
    them, fewer threads are faster (llama.cpp's threads wait for each other at every step)."""
    if (configured := LOCAL_THREADS.get()) is not None:
        return configured
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class LocalServerError(KgError, RuntimeError):
    """The embedded server did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class ServerStatus:
    base_url: str
    answering: bool
    pid: int | None
    models: list[str]
    log_file: Path
    slots: int | None = None
    busy_slots: int | None = None

    def describe(self) -> str:
        if self.answering:
            owner = f"pid {self.pid}" if self.pid else "not started by kg"
            slots = (
                f"; {self.busy_slots} of {self.slots} slots busy" if self.slots is not None else ""
            )
            return f"running at {self.base_url} ({owner}), serving {', '.join(self.models)}{slots}"
        if self.pid:
            return (
                f"started (pid {self.pid}) but not answering at {self.base_url}: still loading, "
                f"or busy; see {self.log_file}"
            )
        return f"not running (expected at {self.base_url}); start it with `kg local start`"


@dataclass
class LocalServer:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    threads: int = field(default_factory=cpu_threads)
    slots: int = DEFAULT_SLOTS
    slot_context_tokens: int = SLOT_CONTEXT_TOKENS
    state_dir: Path = field(default_factory=lambda: cache_dir() / "run")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def context_tokens(self) -> int:
        return self.slots * self.slot_context_tokens

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"llama-server-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"llama-server-{self.port}.log"

    def _get(self, path: str, timeout: float = 5.0) -> Any:
        response = httpx.get(f"{self.base_url}{path}", timeout=timeout)
        response.raise_for_status()
        return response.json()

    def _models(self, timeout: float = 5.0) -> list[str] | None:
        try:
            return [m["id"] for m in self._get("/v1/models", timeout).get("data", [])]
        except (httpx.HTTPError, ValueError, KeyError, AttributeError):
            return None

    def _slots(self) -> list[bool] | None:
        """Which slots are decoding, from llama-server's ``/slots`` (None where not offered)."""
        try:
            return [bool(slot["is_processing"]) for slot in self._get("/slots")]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    def _healthy(self) -> bool:
        """llama-server answers ``/health`` with 503 until the model is loaded."""
        try:
            return httpx.get(f"{self.base_url}/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def status(self) -> ServerStatus:
        models = self._models()
        slots = self._slots() if models is not None else None
        return ServerStatus(
            base_url=self.base_url,
            answering=models is not None,
            pid=self._pid(),
            models=models or [],
            log_file=self.log_file,
            slots=len(slots) if slots is not None else None,
            busy_slots=sum(slots) if slots is not None else None,
        )

    def command(self, binary: Path, model_path: Path) -> list[str]:
        return [
            str(binary),
            "--model", str(model_path),
            "--alias", MODEL_ALIAS,
            "--host", self.host,
            "--port", str(self.port),
            "--threads", str(self.threads),
            "--parallel", str(self.slots),
            "--ctx-size", str(self.context_tokens),
            # Each slot owns its share of the context, so a long answer in one slot cannot run
            # another out of room mid-answer (a unified cache would share one pool).
            "--no-kv-unified",
            "--cont-batching",
            # The fixed prompt prefix (about 2,700 tokens for kg-extract-v6 with the Re-DocRED
            # vocabulary, by the model's own tokenizer) is read once per slot, not once per
            # chunk: at ~110 prompt tokens/s a re-read costs ~25 s here.
            "--cache-prompt",
            "--metrics",
            "--slots",
            "--no-webui",
            # Loopback is reachable from any page a local browser opens: only local pages may
            # read its answers.
            "--cors-origins", "localhost",
        ]  # fmt: skip

    def start(self, wait_seconds: float = 180.0) -> ServerStatus:
        """Idempotent: a server already answering on the port is left as it is. One that kg
        started but that does not answer yet (still loading its model) is waited for, not
        doubled: a second server could not bind the port, and its pid would replace the running
        one's in the pid file."""
        current = self.status()
        if current.answering:
            return current
        if current.pid is not None:
            return self._wait(current.pid, None, wait_seconds)
        binary = server_binary()
        model_path = ensure_model()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self.command(binary, model_path),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the shell that started it; stopped by pid
            )
        self.pid_file.write_text(str(process.pid))
        return self._wait(process.pid, process, wait_seconds)

    def _wait(
        self, pid: int, process: subprocess.Popen[bytes] | None, wait_seconds: float
    ) -> ServerStatus:
        """Until the server is healthy; ``process`` is set when this call started it."""
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            exited = process.poll() is not None if process else self._pid() is None
            if exited:
                self.pid_file.unlink(missing_ok=True)
                code = f" with code {process.returncode}" if process else ""
                raise LocalServerError(
                    f"llama-server (pid {pid}) exited{code}; last log lines:\n{self.log_tail()}"
                )
            if self._healthy():
                status = self.status()
                if status.answering:
                    return status
            time.sleep(0.5)
        if process is None:  # not ours to stop: it may be finishing someone's request
            raise LocalServerError(
                f"llama-server (pid {pid}) did not answer on {self.base_url} within "
                f"{wait_seconds:.0f}s: busy with a long request? `kg local stop` stops it"
            )
        self.stop()
        raise LocalServerError(
            f"llama-server did not answer on {self.base_url} within {wait_seconds:.0f}s; "
            f"last log lines:\n{self.log_tail()}"
        )

    def stop(self, wait_seconds: float = 20.0) -> bool:
        """Stop the server kg started on this port; returns False if there was none."""
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and not _reaped(pid):
            time.sleep(0.2)
        if not _reaped(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _reaped(pid: int) -> bool:
    """True once the process is gone; reaps it when it is our own child (else it stays a zombie
    and would look alive)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        return False
