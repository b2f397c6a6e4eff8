"""The serving benchmark, run briefly against loopback servers that stream the way Ollama and
OpenAI-compatible servers do: it must produce a complete result file (timing is not asserted)."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kg_pipeline.perf.sweep import sweep
from kg_pipeline.providers import EndpointSettings

TOKENS = ['{"concepts": [', "], ", '"instances": [], ', '"relationships": []}']


class StreamingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ollama = self.path == "/api/chat"
        lines = []
        for token in TOKENS:
            if ollama:
                lines.append(json.dumps({"message": {"content": token}, "done": False}) + "\n")
            else:
                lines.append(
                    "data: " + json.dumps({"choices": [{"delta": {"content": token}}]}) + "\n\n"
                )
        if ollama:
            lines.append(
                json.dumps(
                    {
                        "message": {"content": ""},
                        "done": True,
                        "prompt_eval_count": 300,
                        "eval_count": 4,
                    }
                )
                + "\n"
            )
        else:
            lines.append(
                "data: "
                + json.dumps(
                    {"choices": [], "usage": {"prompt_tokens": 300, "completion_tokens": 4}}
                )
                + "\n\n"
            )
            lines.append("data: [DONE]\n\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            data = line.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            time.sleep(0.005)
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def streaming_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StreamingHandler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("provider", ["ollama", "vllm"])
def test_a_short_sweep_writes_a_complete_result(
    streaming_server: str, provider: str, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus" / "notes"
    corpus.mkdir(parents=True)
    (corpus / "a.md").write_text("A lock raises boats on a canal.", encoding="utf-8")
    settings = EndpointSettings(
        name=f"bench-{provider}", provider=provider, base_url=streaming_server, model="m"
    )
    path = sweep(settings, [1, 2], requests=4, corpus=tmp_path / "corpus", out_dir=tmp_path / "out")
    result = json.loads(path.read_text())
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 2]
    for level in result["levels"]:
        assert (level["requests"], level["completed"], level["error_rate"]) == (4, 4, 0.0)
        # 4 requests x 4 output tokens from the server's counts.
        assert level["output_throughput"] == pytest.approx(16 / level["duration_s"])
        assert set(level["ttft_s"]) == {"p50", "p90", "p99"} and level["itl_s"]["p50"] > 0
    assert result["knee_concurrency"] in {1, 2}
    assert result["hardware"]["cpu_cores"] >= 1
    assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
