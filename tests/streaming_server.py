"""A loopback server that streams an extraction the way Ollama (NDJSON on /api/chat) and
OpenAI-compatible servers (SSE on /v1/chat/completions) do, with usage counts at the end: the
serving benchmark and the performance report speak real streamed HTTP to it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

TOKENS = ['{"concepts": [', "], ", '"instances": [], ', '"relationships": []}']
PROMPT_TOKENS = 300  # the usage counts every answer reports
OUTPUT_TOKENS = len(TOKENS)


def _stream_lines(ollama: bool) -> list[str]:
    if ollama:
        lines = [json.dumps({"message": {"content": t}, "done": False}) + "\n" for t in TOKENS]
        done = {
            "message": {"content": ""},
            "done": True,
            "prompt_eval_count": PROMPT_TOKENS,
            "eval_count": OUTPUT_TOKENS,
        }
        return [*lines, json.dumps(done) + "\n"]
    # As OpenAI streams a chat completion: the last content chunk says why the answer ended.
    lines = [
        "data: "
        + json.dumps(
            {"choices": [{"delta": {"content": t}, "finish_reason": "stop" if last else None}]}
        )
        + "\n\n"
        for last, t in ((i == len(TOKENS) - 1, t) for i, t in enumerate(TOKENS))
    ]
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": OUTPUT_TOKENS}
    return [
        *lines,
        "data: " + json.dumps({"choices": [], "usage": usage}) + "\n\n",
        "data: [DONE]\n\n",
    ]


class StreamingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def before_answering(self) -> None:
        """A hook for handlers that hold requests back (see BarrierHandler)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.before_answering()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in _stream_lines(self.path == "/api/chat"):
            data = line.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            time.sleep(0.005)  # tokens arrive apart, so inter-token latency is not zero
        self.wfile.write(b"0\r\n\r\n")


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler] = StreamingHandler) -> Iterator[str]:
    """The server's base URL while the block runs."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def streaming_server() -> Iterator[str]:
    """The server's base URL, for the duration of a test."""
    with serve() as url:
        yield url


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A corpus of one short note: the workload of the serving tests."""
    notes = tmp_path / "corpus" / "notes"
    notes.mkdir(parents=True)
    (notes / "a.md").write_text("A lock raises boats on a canal.", encoding="utf-8")
    return tmp_path / "corpus"
