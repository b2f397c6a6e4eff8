"""A real HTTP server on loopback that answers with scripted responses and records requests.

It stands in for Ollama or an OpenAI-compatible server where the real one is not on this machine
(no GPU, no Ollama) or cannot be made to misbehave on demand; the client under test speaks real
HTTP to it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to "think" before answering, like a model decoding


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float = field(default_factory=time.time)  # when the request arrived


class StandInServer:
    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], deque[Reply]] = {}
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                server.requests.append(Recorded(method, self.path, body, dict(self.headers)))
                queue = server.replies.get((method, self.path))
                if not queue:
                    reply = Reply(404, {"error": f"no scripted reply for {method} {self.path}"})
                else:
                    reply = queue[0] if len(queue) == 1 else queue.popleft()
                if reply.delay:
                    time.sleep(reply.delay)
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        """Script the answers to a route: each request takes the next; the last one repeats."""
        self.replies[(method, path)] = deque(replies)

    def __enter__(self) -> StandInServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def chat_completion(
    content: str,
    finish_reason: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    delay: float = 0.0,
) -> Reply:
    """An OpenAI-compatible `/v1/chat/completions` answer whose message is ``content``."""
    return Reply(
        body={
            "choices": [{"message": {"content": content}, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
        delay=delay,
    )


# A valid extraction with nothing in it: for tests about the plumbing, not the content.
EMPTY_EXTRACTION = chat_completion(
    json.dumps({"concepts": [], "instances": [], "relationships": []})
)


def extraction_body(
    concepts: list[tuple[str, str]],
    instances: list[tuple[str, str]],
    relationships: list[tuple[str, str, str]],
) -> dict[str, Any]:
    """An extraction answer: (id, label) concepts, (id, quote) instances, (head, tail, type)
    outward relationships at confidence 0.9."""
    return {
        "concepts": [
            {"concept_id": c, "label": label, "description": "", "search_terms": []}
            for c, label in concepts
        ],
        "instances": [{"concept_id": c, "quote": q} for c, q in instances],
        "relationships": [
            {
                "from_concept_id": head,
                "to_concept_id": tail,
                "relationship_type": rel_type,
                "confidence": 0.9,
                "direction_semantics": "outward",
            }
            for head, tail, rel_type in relationships
        ],
    }
