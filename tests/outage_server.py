"""An OpenAI-compatible model server on a fixed loopback port that can be killed and started again
on the same port, as a GPU server is when it crashes and its supervisor restarts it.

It answers ``/v1/chat/completions`` with a valid (empty) extraction, except HTTP 500 to any
request whose prompt holds ``poison`` (a chunk whose text crashes the server's handler every
time), and records what each request asked and what it got. While stopped, nothing listens on
the port: connections are refused.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMPTY = json.dumps({"concepts": [], "instances": [], "relationships": []})
POISON = "POISONED-CHUNK"


def unused_port() -> int:
    """A port nothing listens on (yet): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection dropped by ``stop`` mid-answer is the point, not an error to print."""


@dataclass
class Served:
    at: float  # time.monotonic() when the request arrived
    prompt: str
    status: int


@dataclass
class OutageServer:
    port: int = field(default_factory=unused_port)
    poison: str = POISON
    delay: float = 0.0  # seconds each extraction takes, like a model decoding (a crash is quick)
    served: list[Served] = field(default_factory=list)
    restarted_at: float | None = None  # time.monotonic() of the last start but the first
    starts: int = 0

    def __post_init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_since(self, moment: float) -> int:
        with self._lock:
            return sum(s.at >= moment for s in self.served)

    def _record(self, prompt: str, status: int) -> None:
        with self._lock:
            self.served.append(Served(time.monotonic(), prompt, status))

    def start(self) -> OutageServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                prompt = json.dumps(body.get("messages", []))
                status = 500 if server.poison in prompt else 200
                server._record(prompt, status)
                if server.delay and status == 200:
                    time.sleep(server.delay)
                if status == 500:
                    answer: dict[str, Any] = {"error": "CUDA error: an illegal memory access"}
                else:
                    answer = {
                        "choices": [{"message": {"content": EMPTY}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
                    }
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        if self.starts:
            self.restarted_at = time.monotonic()
        self.starts += 1
        self._httpd = _QuietServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop the open connections: from now on connections are refused,
        and a request in flight gets no answer."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self._lock:
            open_connections, self._connections = list(self._connections), set()
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def kill_for(self, seconds: float, after_requests: int) -> threading.Thread:
        """In the background: once ``after_requests`` requests have arrived, stop, and start
        again ``seconds`` later (a crash and a supervisor's restart)."""

        def outage() -> None:
            while len(self.served) < after_requests:
                time.sleep(0.005)
            self.stop()
            time.sleep(seconds)
            self.start()

        thread = threading.Thread(target=outage, daemon=True)
        thread.start()
        return thread

    def __enter__(self) -> OutageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SocketServer:
    """A listener below HTTP that counts the connections it accepts and then either holds each
    one open without a word (``hang``: a hung GPU server) or closes it at once (``reset``: a
    server that dies on every request)."""

    def __init__(self, behaviour: str) -> None:
        assert behaviour in ("hang", "reset")
        self.behaviour = behaviour
        self.accepted = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(0.05)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._listener.accept()[0]
            except OSError:
                continue
            self.accepted += 1
            if self.behaviour == "reset":
                conn.close()
            else:
                self._held.append(conn)

    def __enter__(self) -> SocketServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._listener.close()
