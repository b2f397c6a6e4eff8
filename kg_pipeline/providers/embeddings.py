"""Embeddings for embedding-level concept matching: Ollama ``/api/embed`` or an OpenAI-compatible
``/v1/embeddings`` (vLLM, llama.cpp, OpenAI)."""

from __future__ import annotations

from typing import Literal

import httpx
import numpy as np

from kg_pipeline.providers.base import ProviderUnavailable
from kg_pipeline.providers.redaction import header_secrets, redact

# The wire protocols (registry.WireProtocol) that have an embeddings endpoint: Anthropic's has none.
EmbeddingApi = Literal["ollama", "openai"]


class HTTPEmbedder:
    """Callable: texts -> one row per text. Batched; the order of rows follows the texts."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api: EmbeddingApi = "openai",
        api_key: str | None = None,
        batch_size: int = 64,
        timeout_seconds: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_seconds)

    def _batch(self, texts: list[str]) -> list[list[float]]:
        path = "/api/embed" if self.api == "ollama" else "/v1/embeddings"
        url = f"{self.base_url}{path}"
        try:
            response = self._client.post(url, json={"model": self.model, "input": texts})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"cannot reach the embedding endpoint {url}: {exc}") from exc
        if response.status_code >= 400:
            raise ProviderUnavailable(
                f"{url} answered HTTP {response.status_code}: "
                f"{redact(response.text, header_secrets(self._client.headers), 300)}"
            )
        body = response.json()
        if self.api == "ollama":
            vectors: list[list[float]] = body["embeddings"]
            return vectors
        rows = sorted(body["data"], key=lambda item: item["index"])
        return [row["embedding"] for row in rows]

    def __call__(self, texts: list[str]) -> np.ndarray:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors += self._batch(texts[start : start + self.batch_size])
        if len(vectors) != len(texts):
            raise ProviderUnavailable(
                f"{self.base_url} returned {len(vectors)} embeddings for {len(texts)} texts"
            )
        return np.array(vectors, dtype=float)

    def close(self) -> None:
        self._client.close()
