"""The load generator against a server that drops kept-alive connections: llama-server closes
some connections after a streamed answer, and the next request sent on one fails before the
server reads it ("Server disconnected without sending a response."). Such a request is no error
of the server's and is sent again on a new connection; a server that fails the request itself
still counts as an error."""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kg_pipeline.perf.load import CUT_OFF, run_level
from kg_pipeline.serving.endpoints import EndpointSettings

STREAM = [
    {"choices": [{"delta": {"content": "{}"}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 3}},
]


class DroppingServer:
    """Answers the first request of each connection with a stream; drops the connection, with no
    answer, at its second (or, with ``fail_all``, answers every request HTTP 500; with
    ``cut_off``, ends each stream with "[DONE]" before saying why the answer ended, as
    llama-cpp-python's server does to the answer it streams when another request arrives)."""

    def __init__(self, fail_all: bool = False, cut_off: bool = False) -> None:
        self.connections = 0
        self.answered = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                self.served = 0
                server.connections += 1

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.served += 1
                if self.served > 1:
                    self.close_connection = True  # dropped: no status line, no byte
                    return
                if fail_all:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                events = [{"choices": [{"delta": {"content": "{"}}]}] if cut_off else STREAM
                body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                payload = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                server.answered += 1

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def level(server: DroppingServer, requests: int) -> Any:
    settings = EndpointSettings(name="s", provider="vllm", base_url=server.base_url, model="m")
    work = [("/v1/chat/completions", {"model": "m", "stream": True})] * requests
    return asyncio.run(run_level(settings, work, concurrency=1, warmup=0))


def test_a_request_on_a_connection_the_server_dropped_is_sent_again_and_not_an_error() -> None:
    server = DroppingServer()
    try:
        result = level(server, 4)
    finally:
        server.close()
    # Each request after the first meets the dropped connection once, then a new one answers.
    assert [r.error for r in result.requests] == [None] * 4
    assert server.answered == 4 and server.connections == 4
    assert all(r.output_tokens == 3 for r in result.requests)


def test_a_request_the_server_fails_is_still_an_error() -> None:
    server = DroppingServer(fail_all=True)
    try:
        result = level(server, 2)
    finally:
        server.close()
    assert [r.error for r in result.requests] == ["HTTP 500", "HTTP 500"]


def test_a_stream_that_ends_without_a_finish_reason_is_an_error() -> None:
    server = DroppingServer(cut_off=True)
    try:
        result = level(server, 2)
    finally:
        server.close()
    assert [r.error for r in result.requests] == [CUT_OFF, CUT_OFF]
    assert result.summary()["error_rate"] == 1.0
