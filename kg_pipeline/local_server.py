"""Start, stop and inspect the embedded llama.cpp server (llama-cpp-python's OpenAI-compatible
server) so that the pipeline runs with nothing else installed.

The server is a separate process, bound to loopback only, found again through a pid file; the
pipeline reaches it over HTTP through the same provider as vLLM, so nothing in the pipeline is
special-cased for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kg_pipeline.local_model import MODEL_ALIAS, cache_dir, ensure_model

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = int(os.environ.get("KG_LOCAL_PORT", "8089"))


class LocalServerError(RuntimeError):
    """The embedded server did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class ServerStatus:
    base_url: str
    answering: bool
    pid: int | None
    models: list[str]
    log_file: Path

    def describe(self) -> str:
        if self.answering:
            owner = f"pid {self.pid}" if self.pid else "not started by kg"
            return f"running at {self.base_url} ({owner}), serving {', '.join(self.models)}"
        if self.pid:
            # llama-cpp-python answers nothing else while it decodes a long request.
            return (
                f"started (pid {self.pid}) but not answering at {self.base_url}: busy with a "
                f"request or still loading; see {self.log_file}"
            )
        return f"not running (expected at {self.base_url}); start it with `kg local start`"


@dataclass
class LocalServer:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    threads: int = 2
    # Fits the system prompt (~1k tokens), a 1500-word chunk (~2.5k) and a 4096-token answer.
    context_tokens: int = 8192
    state_dir: Path = field(default_factory=lambda: cache_dir() / "run")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"llama-server-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"llama-server-{self.port}.log"

    def _models(self, timeout: float = 5.0) -> list[str] | None:
        try:
            response = httpx.get(f"{self.base_url}/v1/models", timeout=timeout)
            response.raise_for_status()
            return [m["id"] for m in response.json().get("data", [])]
        except (httpx.HTTPError, ValueError, KeyError):
            return None

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
        return ServerStatus(
            base_url=self.base_url,
            answering=models is not None,
            pid=self._pid(),
            models=models or [],
            log_file=self.log_file,
        )

    def command(self, model_path: Path) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path),
            "--model_alias", MODEL_ALIAS,
            "--host", self.host,
            "--port", str(self.port),
            "--n_threads", str(self.threads),
            "--n_ctx", str(self.context_tokens),
        ]  # fmt: skip

    def start(self, wait_seconds: float = 180.0) -> ServerStatus:
        """Idempotent: a server already answering on the port is left as it is. One that kg
        started but that does not answer yet (llama-cpp-python answers nothing while it decodes
        a long request) is waited for, not doubled: a second server could not bind the port, and
        its pid would replace the running one's in the pid file."""
        current = self.status()
        if current.answering:
            return current
        if current.pid is not None:
            return self._wait(current.pid, None, wait_seconds)
        model_path = ensure_model()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self.command(model_path),
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
        """Until the server answers; ``process`` is set when this call started it."""
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            exited = process.poll() is not None if process else self._pid() is None
            if exited:
                self.pid_file.unlink(missing_ok=True)
                code = f" with code {process.returncode}" if process else ""
                raise LocalServerError(
                    f"llama.cpp server (pid {pid}) exited{code}; last log lines:\n{self.log_tail()}"
                )
            status = self.status()
            if status.answering:
                return status
            time.sleep(0.5)
        if process is None:  # not ours to stop: it may be finishing someone's request
            raise LocalServerError(
                f"llama.cpp server (pid {pid}) did not answer on {self.base_url} within "
                f"{wait_seconds:.0f}s: busy with a long request? `kg local stop` stops it"
            )
        self.stop()
        raise LocalServerError(
            f"llama.cpp server did not answer on {self.base_url} within {wait_seconds:.0f}s; "
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
