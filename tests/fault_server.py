"""A fault-injection server: a real HTTP server on loopback speaking Ollama's ``/api/chat`` and
the OpenAI-compatible ``/v1/chat/completions``, which answers each request with a fault drawn from
a seeded schedule — a reset connection, a hang past the client's timeout, a slow drip, 429/500/503
with and without Retry-After, malformed, truncated or empty JSON, thinking only — or a valid
extraction. It counts what it injected."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID = {
    "concepts": [
        {"concept_id": "concept_001", "label": "canal", "description": "", "search_terms": []}
    ],
    "instances": [{"concept_id": "concept_001", "quote": "canal"}],
    "relationships": [],
}
FAULTS = (
    "reset", "hang", "slow_drip", "http_429", "http_429_retry_after", "http_500",
    "http_503_retry_after", "malformed", "truncated", "empty", "thinking_only", "fenced",
)  # fmt: skip


class FaultServer:
    def __init__(self, fault_rate: float, seed: int = 0, hang_seconds: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.hang_seconds = hang_seconds
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                kind = server._next_kind()
                server._answer(self, kind, ollama=self.path == "/api/chat")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _next_kind(self) -> str:
        with self._lock:
            self.requests += 1
            kind = self.rng.choice(FAULTS) if self.rng.random() < self.fault_rate else "ok"
            if kind != "ok":
                self.injected[kind] += 1
            return kind

    def _answer(self, handler: BaseHTTPRequestHandler, kind: str, ollama: bool) -> None:
        if kind == "reset":
            handler.close_connection = True
            handler.connection.shutdown(2)  # the server "exits mid-request": no answer at all
            return
        if kind == "hang":
            time.sleep(self.hang_seconds)
            handler.close_connection = True
            return
        status, headers, content, finish, thinking = 200, {}, json.dumps(VALID), "stop", ""
        if kind.startswith("http_"):
            status = int(kind.split("_")[1])
            if kind.endswith("retry_after"):
                headers["Retry-After"] = "0"
        elif kind == "malformed":
            content = "Here are the concepts: canal, lock, barge."
        elif kind == "truncated":
            content, finish = json.dumps(VALID)[:40], "length"
        elif kind == "empty":
            content = ""
        elif kind == "thinking_only":
            content, thinking = "", "The text mentions a canal, so I will output..."
        elif kind == "fenced":
            content = f"```json\n{json.dumps(VALID)}\n```"
        if status != 200:
            body = json.dumps({"error": kind}).encode()
        elif ollama:
            message = {"role": "assistant", "content": content} | (
                {"thinking": thinking} if thinking else {}
            )
            body = json.dumps(
                {
                    "message": message,
                    "done": True,
                    "done_reason": finish,
                    "prompt_eval_count": 50,
                    "eval_count": 20,
                }
            ).encode()
        else:
            message = {"content": content} | ({"reasoning_content": thinking} if thinking else {})
            body = json.dumps(
                {
                    "choices": [{"message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 20},
                }
            ).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if kind == "slow_drip":
            for start in range(0, len(body), 16):
                handler.wfile.write(body[start : start + 16])
                handler.wfile.flush()
                time.sleep(0.002)
        else:
            handler.wfile.write(body)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
