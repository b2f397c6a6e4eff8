"""A busy embedded server: waited for, not doubled, while it loads; answering its control plane
while every slot decodes; and freeing a slot when the client that asked goes away.

The first tests use a stand-in, a real HTTP server that binds its port and then answers nobody for
a while (a server still loading its model, or llama-cpp-python's, which answered nothing, not even
``/v1/models``, while it decoded). The ``real_model`` tests fill every slot of the real
llama-server with long generations started by separate client processes.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kg_pipeline.cli.main import main
from kg_pipeline.extraction import telemetry
from kg_pipeline.providers import EndpointSettings
from kg_pipeline.serving.local_model import MODEL_ALIAS
from kg_pipeline.serving.local_server import LocalServer, LocalServerError

_BUSY_SERVER = """
import json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

class Models(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": "stand-in"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Models)  # bound and listening
time.sleep(float(sys.argv[2]))  # busy: requests queue and nothing answers
if sys.argv[3] == "serve":
    server.serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def busy_server(
    tmp_path: Path, busy_seconds: float, then: str
) -> Iterator[tuple[LocalServer, int]]:
    """A stand-in started the way `kg local start` starts one, detached: not this process's
    child, so once it exits it is gone (no zombie left to look alive). ``then``: "serve" or
    "exit" once the busy spell is over."""
    port = _free_port()
    script = tmp_path / "busy_server.py"
    script.write_text(_BUSY_SERVER)
    launched = subprocess.run(
        ["sh", "-c", f'"$0" "$1" {port} {busy_seconds} {then} >/dev/null 2>&1 & echo $!',
         sys.executable, str(script)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    pid = int(launched.stdout.strip())
    server = LocalServer(port=port, state_dir=tmp_path)
    server.pid_file.write_text(str(pid))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield server, pid
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_start_waits_for_its_busy_server_instead_of_starting_a_second(tmp_path: Path) -> None:
    # Busy for longer than one status check (5 s), so start sees a server that does not answer.
    with busy_server(tmp_path, busy_seconds=7, then="serve") as (server, pid):
        status = server.start(wait_seconds=30)
        assert status.answering and status.models == ["stand-in"]
        assert status.pid == pid and server.pid_file.read_text() == str(pid)


def test_a_busy_server_that_never_answers_is_reported_and_left_running(tmp_path: Path) -> None:
    with busy_server(tmp_path, busy_seconds=60, then="serve") as (server, pid):
        with pytest.raises(LocalServerError, match=rf"pid {pid}.*busy with a long request"):
            server.start(wait_seconds=1)
        os.kill(pid, 0)  # still alive: it may be finishing someone's request
        assert server.pid_file.read_text() == str(pid)


def test_a_server_that_exits_while_waited_for_is_reported(tmp_path: Path) -> None:
    # Busy past the first status check (5 s), then gone while start waits for it.
    with busy_server(tmp_path, busy_seconds=7, then="exit") as (server, pid):
        with pytest.raises(LocalServerError, match=rf"pid {pid}\) exited"):
            server.start(wait_seconds=30)
        assert not server.pid_file.exists()


# A generation that runs for minutes on a CPU unless stopped: the end-of-text token is ignored,
# so it decodes its whole budget (8000 tokens at well under 100 tokens/s per slot).
_LONG_CLIENT = """
import sys, httpx
body = {"model": sys.argv[2], "max_tokens": 8000, "temperature": 0, "ignore_eos": True,
        "messages": [{"role": "user", "content": "Count from 1 to 100000, one per line."}]}
httpx.post(sys.argv[1] + "/v1/chat/completions", json=body, timeout=float(sys.argv[3]))
"""
# Liveness bounds, far above what llama-server needs (well under a second to answer, about a
# second to notice a closed connection) and far below a generation's minutes.
ANSWER_BOUND_S = 15.0
FREED_BOUND_S = 30.0


def _busy_slots(server: LocalServer) -> int:
    status = server.status()
    assert status.busy_slots is not None, f"{server.base_url} offers no /slots"
    return status.busy_slots


def _wait_for(condition: Callable[[], bool], seconds: float) -> float | None:
    """Seconds until ``condition`` held, or None if it did not within ``seconds``. Polls every
    2 s: llama-server notices a closed connection only after a whole second in which no task of
    any client finished, and each ``/slots`` read is such a task (so a poller faster than once a
    second would keep a gone client's generation running)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(2.0)
    return None


@contextmanager
def long_generations(
    server: LocalServer, count: int, client_timeout_s: float = 600.0
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` clients, each a process of its own that asks for a long generation; killed at
    the end (if still there), as Ctrl-C would end them."""
    command = [sys.executable, "-c", _LONG_CLIENT, server.base_url, MODEL_ALIAS,
               str(client_timeout_s)]  # fmt: skip
    clients = [subprocess.Popen(command, stderr=subprocess.DEVNULL) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            client.kill()
            client.wait()
        # The next test gets an idle server.
        freed = _wait_for(lambda: _busy_slots(server) == 0, FREED_BOUND_S)
        assert freed is not None, server.log_tail(40)


@pytest.fixture
def instance_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml", home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    return action(), time.monotonic() - started


@pytest.mark.real_model
def test_status_probe_and_registration_answer_within_seconds_while_every_slot_is_busy(
    embedded_server: LocalServer, instance_home: Path
) -> None:
    slots = embedded_server.slots
    with long_generations(embedded_server, slots):
        assert _wait_for(lambda: _busy_slots(embedded_server) == slots, 120) is not None
        status, status_s = _timed(embedded_server.status)
        assert status.answering and status.busy_slots == slots == status.slots

        settings = EndpointSettings(name="busy-embedded", provider="llamacpp",
                                    base_url=embedded_server.base_url, model=MODEL_ALIAS)  # fmt: skip
        up, probe_s = _timed(lambda: asyncio.run(telemetry.probe_endpoint(settings, timeout_s=5)))
        assert up is True  # answered, not excused as busy after a recent chunk

        cli = CliRunner()
        registered, set_s = _timed(lambda: cli.invoke(main, [
            "admin", "extraction", "set", "--name", "busy-local", "--provider", "llamacpp",
            "--model", MODEL_ALIAS, "--base-url", embedded_server.base_url, "--no-activate"]))  # fmt: skip
        assert registered.exit_code == 0, registered.output
        shown, show_s = _timed(lambda: cli.invoke(
            main, ["admin", "extraction", "status", "--name", "busy-local"]))  # fmt: skip
        assert shown.exit_code == 0 and MODEL_ALIAS in shown.output, shown.output
        assert _busy_slots(embedded_server) == slots  # all of it happened with no slot free
    timings = {"status": status_s, "probe": probe_s, "set": set_s, "status_cli": show_s}
    assert max(timings.values()) < ANSWER_BOUND_S, timings


@pytest.mark.real_model
def test_a_killed_client_stops_its_generation_and_frees_its_slot(
    embedded_server: LocalServer,
) -> None:
    with long_generations(embedded_server, 1) as (client,):
        assert _wait_for(lambda: _busy_slots(embedded_server) == 1, 120) is not None
        time.sleep(2)  # decoding for a while, minutes from its end
        client.kill()  # as Ctrl-C would
        freed = _wait_for(lambda: _busy_slots(embedded_server) == 0, FREED_BOUND_S)
        assert freed is not None, "the slot kept decoding for a client that was gone"


@pytest.mark.real_model
def test_a_client_that_times_out_frees_its_slot(embedded_server: LocalServer) -> None:
    with long_generations(embedded_server, 1, client_timeout_s=5) as (client,):
        assert client.wait(timeout=120) != 0  # its read timed out
        freed = _wait_for(lambda: _busy_slots(embedded_server) == 0, FREED_BOUND_S)
        assert freed is not None, "the slot kept decoding after its client timed out"
