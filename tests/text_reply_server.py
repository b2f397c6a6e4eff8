"""A real HTTP server on loopback that answers with scripted raw bodies — any status, any content
type, text that is not JSON — and counts the requests it received.

The stand-in server (tests/stand_in_server.py) always encodes its replies as JSON; error pages
from proxies and servers that echo a request's credentials in plain text need the bytes as they
are.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class TextReply:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]


class TextReplyServer:
    def __init__(self, *replies: TextReply) -> None:
        """Each POST takes the next reply; the last one repeats. A GET (a model list, a health
        check) is answered 404 and takes none."""
        self._replies = deque(replies)
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.requests.append(Received(self.command, self.path, dict(self.headers)))
                    if self.command != "POST":
                        reply = TextReply(404, f"nothing scripted for {self.command}")
                    elif len(server._replies) > 1:
                        reply = server._replies.popleft()
                    else:
                        reply = server._replies[0]
                payload = reply.body.encode("utf-8")
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> TextReplyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
