"""A busy embedded server is waited for, not doubled.

llama-cpp-python answers nothing, not even ``/v1/models``, while it decodes a long request. The
stand-in here is a real HTTP server that binds its port and then answers nobody for a while.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from kg_pipeline.local_server import LocalServer, LocalServerError

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
