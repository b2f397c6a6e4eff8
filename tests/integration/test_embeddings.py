"""The embedder against loopback servers speaking Ollama's and OpenAI's embedding APIs."""

import pytest

from kg_pipeline.providers import ProviderUnavailable
from kg_pipeline.providers.embeddings import HTTPEmbedder
from tests.stand_in_server import Reply, StandInServer


def test_openai_embeddings_are_returned_in_input_order() -> None:
    with StandInServer() as server:
        # The server may answer out of order; "index" says which input each row belongs to.
        server.reply("POST", "/v1/embeddings", Reply(body={"data": [
            {"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]},
        ]}))  # fmt: skip
        embedder = HTTPEmbedder(server.base_url, "nomic-embed-text", "openai", api_key="k")
        vectors = embedder(["oven", "flour"])
        body = server.requests[0].body
        assert server.requests[0].headers["Authorization"] == "Bearer k"
    assert body == {"model": "nomic-embed-text", "input": ["oven", "flour"]}
    assert vectors.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_ollama_embed_api_is_spoken_in_batches() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/embed", Reply(body={"embeddings": [[1.0], [2.0]]}))
        embedder = HTTPEmbedder(server.base_url, "nomic-embed-text", "ollama", batch_size=2)
        vectors = embedder(["a", "b", "c", "d"])
        assert [r.body["input"] for r in server.requests] == [["a", "b"], ["c", "d"]]
    assert vectors.shape == (4, 1)


def test_a_wrong_number_of_embeddings_is_an_error_not_a_misalignment() -> None:
    with StandInServer() as server:
        server.reply("POST", "/api/embed", Reply(body={"embeddings": [[1.0]]}))
        embedder = HTTPEmbedder(server.base_url, "m", "ollama")
        with pytest.raises(ProviderUnavailable, match="1 embeddings for 2 texts"):
            embedder(["a", "b"])


def test_an_http_error_names_the_url() -> None:
    with StandInServer() as server:
        server.reply("POST", "/v1/embeddings", Reply(404, {"error": "model not found"}))
        with pytest.raises(ProviderUnavailable, match="/v1/embeddings answered HTTP 404"):
            HTTPEmbedder(server.base_url, "m")(["a"])
