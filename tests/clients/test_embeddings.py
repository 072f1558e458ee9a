"""The /v1/embeddings client against a tiny loopback server, and its use in scoring."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runbench.clients.embeddings import OpenAIEmbedder, make_embedder, tool_similarity
from runbench.clients.sim import SimClient
from runbench.config import DeploymentConfig, EndpointLimits, ModelConfig, load_config
from runbench.errors import AuthenticationError, ConfigError, RetryableProviderError
from runbench.workload.executor import run_test
from runbench.workload.similarity import FALLBACK_SOURCE, ToolSimilarity
from runbench.workload.tasks import builtin_library
from runbench.workload.tools import registry

SENTINEL = "sk-embed-sentinel-0123456789"


def _vector(text: str) -> list[float]:
    """A 3-d vector that makes 'data …' tools alike and everything else apart."""
    return [1.0, 0.0, 0.0] if text.startswith("data") else [0.0, 1.0, float(len(text) % 3)]


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"path": self.path, "body": body, "key": self.headers["Authorization"]})
        if body["model"] == "http-401":
            payload: object = {"error": {"message": f"bad key {self.headers['Authorization']}"}}
            status = 401
        elif body["model"] == "http-500":
            payload, status = {"error": {"message": "boom"}}, 500
        else:
            texts = body["input"]
            data = [
                {"object": "embedding", "index": index, "embedding": _vector(text)}
                for index, text in reversed(list(enumerate(texts)))  # out of order on purpose
            ]
            payload = {"object": "list", "data": data, "model": body["model"], "usage": {}}
            status = 200
        encoded = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    yield f"http://{host}:{port}/v1", seen
    httpd.shutdown()
    httpd.server_close()


def _embedder(base_url: str, deployment: str) -> OpenAIEmbedder:
    config = DeploymentConfig(
        name=deployment,
        provider="fake",
        kind="openai",
        base_url=base_url,
        endpoint=None,
        api_key_env="FAKE_KEY",
        api_version=None,
        limits=EndpointLimits(max_concurrency=4),
        request_timeout_s=5.0,
        connect_timeout_s=5.0,
    )
    return OpenAIEmbedder(
        ModelConfig("text-embedding-3-large", "fake", (config,)), config, SENTINEL
    )


async def _embed(embedder: OpenAIEmbedder, texts: list[str]) -> list[list[float]]:
    try:
        return await embedder.embed(texts)
    finally:
        await embedder.aclose()


def test_vectors_come_back_in_input_order(server: tuple[str, list[dict[str, Any]]]) -> None:
    base_url, seen = server
    vectors = asyncio.run(_embed(_embedder(base_url, "emb"), ["data x", "file y"]))
    assert vectors == [_vector("data x"), _vector("file y")]
    assert seen[-1]["path"] == "/v1/embeddings" and seen[-1]["body"]["model"] == "emb"
    assert seen[-1]["key"] == f"Bearer {SENTINEL}"


def test_errors_are_translated_and_never_carry_the_key(
    server: tuple[str, list[dict[str, Any]]],
) -> None:
    base_url, _ = server
    with pytest.raises(AuthenticationError) as rejected:
        asyncio.run(_embed(_embedder(base_url, "http-401"), ["x"]))
    assert SENTINEL not in str(rejected.value)
    with pytest.raises(RetryableProviderError):
        asyncio.run(_embed(_embedder(base_url, "http-500"), ["x"]))


def test_similarity_from_embeddings_is_recorded_by_model_name(
    server: tuple[str, list[dict[str, Any]]],
) -> None:
    base_url, seen = server
    similarity = asyncio.run(ToolSimilarity.from_embedder(_embedder(base_url, "emb"), registry()))
    assert similarity.source == "embeddings:text-embedding-3-large"
    assert len(seen) == 1, "every tool is embedded in one request"
    best, score = similarity.nearest("data_parser")[0]
    assert best.startswith("data_") and score == pytest.approx(1.0)


def test_config_names_the_embeddings_model(tmp_path: Path) -> None:
    path = tmp_path / "runbench.toml"
    path.write_text(
        'embeddings = "emb"\n'
        '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = "LOCAL_KEY"\n'
        '[models.emb]\nprovider = "local"\n'
    )
    config = load_config(path)
    assert config.embeddings == "emb"
    embedder = make_embedder(config, {"LOCAL_KEY": SENTINEL})
    assert embedder is not None and embedder.name == "embeddings:emb"
    asyncio.run(embedder.aclose())
    assert make_embedder(load_config(None)) is None


def test_a_simulated_or_unknown_embeddings_model_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "runbench.toml"
    path.write_text('embeddings = "sim-oracle"\n')
    with pytest.raises(ConfigError, match="simulated"):
        make_embedder(load_config(path), {})
    path.write_text('embeddings = "nobody"\n')
    with pytest.raises(ConfigError, match="names no model"):
        load_config(path)


def test_a_run_scores_with_the_configured_embeddings_and_says_so(
    tmp_path: Path, server: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, seen = server
    path = tmp_path / "runbench.toml"
    path.write_text(
        'embeddings = "emb"\n'
        f'[providers.local]\nkind = "openai"\nbase_url = "{base_url}"\n'
        'api_key_env = "LOCAL_KEY"\n'
        '[models.emb]\nprovider = "local"\n'
    )
    config = load_config(path)
    similarity = asyncio.run(tool_similarity(config, registry(), {"LOCAL_KEY": SENTINEL}))
    assert similarity.source == "embeddings:emb" and len(seen) == 1
    task = builtin_library().task_for("basic_task", "easy", 0)
    outcome = asyncio.run(
        run_test(
            SimClient("sim-weak", "weak"),
            task,
            prompt_type="baseline",
            test_id="c" * 32,
            tool_success_rate=0.8,
            similarity=similarity,
        )
    )
    assert outcome.scores.similarity_source == "embeddings:emb"
    fallback = asyncio.run(tool_similarity(load_config(None), registry()))
    assert fallback.source == FALLBACK_SOURCE
