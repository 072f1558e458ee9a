"""Runs rank tool search by WorkflowBench's embedding index, through the run's one context.

Each run goes the way a user's does (``run_request`` → engine → executor), with a scripted
model client from the context's client factory and a scripted embedder from its embedder
factory. The index is our own, in WorkflowBench's pickle format, over the fixture registry's
tools; its vectors are chosen so the index and the keyword fallback disagree on one query:
``timestamp`` is a word of ``helper_clock``'s description only (keyword: ``helper_clock``),
while its embedding is ``web_sender``'s vector (index: ``web_sender`` first).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import pickle
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from runbench.chat import ChatMessage, ChatRequest, ChatResponse, ModelClient
from runbench.config import DeploymentConfig, ModelConfig, load_config
from runbench.errors import AuthenticationError, ProviderError
from runbench.planspec import PlanInputs
from runbench.runners.context import RunContext, build_context
from runbench.runners.engine import RunOptions
from runbench.runners.ray_cluster import ActorSetup, ShardActor
from runbench.runners.retry import RetryPolicy
from runbench.runners.session import build_request, run_request
from runbench.runners.tool_search import SearchSetup
from runbench.storage import open_store
from runbench.workload.wb_registry import load_tool_registry
from tests.conftest import FIXTURES, run_cli
from tests.fakes import wb_logs
from tests.fakes.scripted_client import ScriptedClient
from tests.workload.test_wb_executor import _library

REGISTRY = FIXTURES / "wb" / "tool_registry.json"
NAMES = tuple(load_tool_registry(REGISTRY))  # the index holds every tool, in registry order
CONFIG = (
    '[providers.lab]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
    'api_key_env = "LAB_KEY"\n'
    '[models.scripted]\nprovider = "lab"\ndeployments = ["east"]\n'
    '[models.embedder]\nprovider = "lab"\ndeployments = ["emb"]\n'
)
SEARCH = "<tool_search>timestamp</tool_search>"


def _vectors() -> np.ndarray:
    """One direction per tool (raw, not unit length), plus a little of every other."""
    return np.eye(len(NAMES), 8) * 3.0 + 0.1


def write_index(path: Path, names: Sequence[str] = NAMES) -> Path:
    """A tool index as ``MCPEmbeddingManager.save_index`` pickles it."""
    vectors = _vectors()[: len(names)]
    document = {
        "config": {"model": "text-embedding-3-large", "dimension": vectors.shape[1]},
        "tool_names": list(names),
        "tool_embeddings": {
            name: {
                "tool_name": name,
                "description": f"does {name}",
                "combined_embedding": vectors[row].tolist(),
            }
            for row, name in enumerate(names)
        },
        "index": wb_logs.faiss_flat_ip(vectors),
    }
    path.write_bytes(pickle.dumps(document))
    return path


def _embedding(text: str) -> list[float]:
    """``timestamp`` is ``web_sender``'s vector, any other text ``storage_loader``'s."""
    return list(_vectors()[NAMES.index("web_sender" if text == "timestamp" else "storage_loader")])


class Embedder:
    """Embeds ``timestamp`` as ``web_sender``'s vector, anything else as ``storage_loader``'s."""

    name = "embeddings:embedder"

    def __init__(self, fail_after: int | None = None, dimension: int | None = None) -> None:
        self.asked: list[str] = []
        self.closed = False
        self._fail_after = fail_after
        self._dimension = dimension  # vectors cut to this length: another embedding model

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self._fail_after is not None and len(self.asked) >= self._fail_after:
            raise AuthenticationError("lab/emb: 401 key rejected", provider="lab")
        self.asked.extend(texts)
        return [_embedding(text)[: self._dimension] for text in texts]

    async def aclose(self) -> None:
        self.closed = True


class Searcher(ScriptedClient):
    """Opens every test with a search for ``timestamp``, then calls ``web_sender``."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        first = len(request.messages) == 2  # the system and user prompt only
        return ChatResponse(SEARCH if first else "<tool_call>web_sender</tool_call>")


class Clients:
    """The client factory of the context: one ``Searcher`` per endpoint."""

    def __init__(self) -> None:
        self.made: list[ScriptedClient] = []

    def __call__(
        self, model: ModelConfig, deployment: DeploymentConfig, *, protocol: str
    ) -> ModelClient:
        client = Searcher([])
        self.made.append(client)
        return client


def _context(
    tmp_path: Path, embedder: Embedder, *, embeddings: bool = True, index: bool = True
) -> tuple[RunContext, Clients]:
    _library(tmp_path)
    config = tmp_path / "runbench.toml"
    config.write_text(('embeddings = "embedder"\n' if embeddings else "") + CONFIG)
    clients = Clients()
    context = build_context(
        load_config(config),
        open_store(tmp_path / "store", "json"),
        tasks_path=tmp_path / "task_library_enhanced_v3.json",
        tools_path=REGISTRY,
        tool_index_path=write_index(tmp_path / "tool_index.pkl") if index else None,
        clients=clients,
        embedders=lambda model: embedder,
    )
    return context, clients


def _run(context: RunContext) -> list[dict[str, object]]:
    inputs = PlanInputs(
        models="scripted", prompt_types="baseline", task_types="simple_task", num_instances=3
    )
    options = RunOptions(max_workers=2, max_turns=2, retry=RetryPolicy(max_retries=0))
    request, _ = build_request(inputs, context.config, mode="smart", options=options)
    outcome = run_request(request, context, preflight_check=False)
    assert outcome.failure is None, outcome.failure
    return context.store.scan().to_pylist()


def _first_found(messages: Sequence[ChatMessage]) -> str:
    """The first tool a search reply lists."""
    reply = messages[-1].content
    assert reply.startswith("Tool Search Results:\n\nQuery: 'timestamp'"), reply
    return reply.split("\n1. ", 1)[1].split("\n", 1)[0] if "\n1. " in reply else ""


def test_a_run_ranks_search_by_the_index_with_one_request_per_query(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = Embedder()
    context, clients = _context(tmp_path, embedder)
    with caplog.at_level(logging.WARNING, logger="runbench"):
        rows = _run(context)

    searched = [r.messages for c in clients.made for r in c.requests if len(r.messages) > 2]
    assert searched and {_first_found(messages) for messages in searched} == {"web_sender"}
    assert embedder.asked.count("timestamp") == 1, "three tests, one query, one request"
    assert embedder.closed, "the run closes the embeddings client it opened"
    assert len(rows) == 3
    assert {row["similarity_source"] for row in rows} == {"index:text-embedding-3-large"}
    assert {row["status"] for row in rows} != {"error"}
    assert not [r for r in caplog.records if "tool index" in r.getMessage()], "no fallback"


def test_without_an_embeddings_model_search_falls_back_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = Embedder()
    context, clients = _context(tmp_path, embedder, embeddings=False)
    with caplog.at_level(logging.WARNING, logger="runbench"):
        rows = _run(context)

    searched = [r.messages for c in clients.made for r in c.requests if len(r.messages) > 2]
    assert searched and {_first_found(messages) for messages in searched} == {"helper_clock"}
    warnings = [
        record.getMessage() for record in caplog.records if "tool index" in record.getMessage()
    ]
    assert len(warnings) == 1 and "keyword fallback" in warnings[0] and "\n" not in warnings[0]
    assert embedder.asked == []
    # phase 2 still credits similar tools by the index, as WorkflowBench does
    assert {row["similarity_source"] for row in rows} == {"index:text-embedding-3-large"}


def test_vectors_of_another_model_fall_back_with_one_warning_and_close_the_client(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = Embedder(dimension=3)
    context, clients = _context(tmp_path, embedder)
    with caplog.at_level(logging.WARNING, logger="runbench"):
        _run(context)

    searched = [r.messages for c in clients.made for r in c.requests if len(r.messages) > 2]
    assert {_first_found(messages) for messages in searched} == {"helper_clock"}
    warnings = [r.getMessage() for r in caplog.records if "tool index" in r.getMessage()]
    assert len(warnings) == 1 and "a query vector of 3 values" in warnings[0], warnings
    assert embedder.asked == ["tool search"] and embedder.closed, "one probe, then closed"


def test_without_an_index_the_run_keeps_the_keyword_search_and_trigram_similarity(
    tmp_path: Path,
) -> None:
    embedder = Embedder()
    context, clients = _context(tmp_path, embedder, embeddings=False, index=False)
    rows = _run(context)

    searched = [r.messages for c in clients.made for r in c.requests if len(r.messages) > 2]
    assert {_first_found(messages) for messages in searched} == {"helper_clock"}
    assert {row["similarity_source"] for row in rows} == {"fallback:trigram"}


def test_a_failing_query_embedding_is_an_api_error_row_and_stops_no_model_provider(
    tmp_path: Path,
) -> None:
    embedder = Embedder(fail_after=1)  # the probe succeeds, every query after it is refused
    context, _ = _context(tmp_path, embedder)
    rows = _run(context)

    assert {(row["status"], row["error_category"]) for row in rows} == {("error", "api_error")}
    assert all("tool search embeddings" in str(row["error_message"]) for row in rows)


def test_the_flag_overrides_the_config_and_a_malicious_index_is_one_line_exit_2(
    tmp_path: Path,
) -> None:
    _library(tmp_path)
    good = write_index(tmp_path / "good.pkl")
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR.")
    config = tmp_path / "runbench.toml"
    config.write_text('tool_index = "evil.pkl"\n')
    common = [
        *("--model", "sim-oracle", "--config", str(config), "--num-instances", "2"),
        *("--tasks", str(tmp_path / "task_library_enhanced_v3.json"), "--tools", str(REGISTRY)),
        *("--prompt-types", "baseline", "--task-types", "simple_task"),
        *("--store", str(tmp_path / "store"), "--quiet", "--no-preflight"),
    ]
    refused = run_cli("smart-batch", *common)
    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if not line.startswith("[INFO]")]
    assert len(errors) == 1 and "evil.pkl refused" in errors[0], refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "pwned").exists()

    ran = run_cli("smart-batch", *common, "--tool-index", str(good))
    assert ran.returncode == 0, ran.stderr
    warnings = [line for line in ran.stderr.splitlines() if line.startswith("[WARNING]")]
    assert len(warnings) == 1 and "good.pkl" in warnings[0], ran.stderr
    rows = open_store(tmp_path / "store", "json").scan(["similarity_source"]).to_pylist()
    assert {row["similarity_source"] for row in rows} == {"index:text-embedding-3-large"}


class _Embeddings(BaseHTTPRequestHandler):
    """A loopback /v1/embeddings: ``timestamp`` is ``web_sender``'s vector."""

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = [
            {"object": "embedding", "index": i, "embedding": _embedding(text)}
            for i, text in enumerate(body["input"])
        ]
        encoded = json.dumps({"object": "list", "data": data, "model": "m", "usage": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)


def test_a_ray_actor_searches_the_index_it_was_sent_with_its_nodes_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        context, _ = _context(tmp_path, Embedder())
        config = load_config(tmp_path / "runbench.toml")
        lab = f"http://127.0.0.1:{server.server_address[1]}/v1"
        model = config.resolve_model("embedder")
        deployment = dataclasses.replace(model.deployments[0], base_url=lab)
        search = SearchSetup(
            context.search.index, dataclasses.replace(model, deployments=(deployment,))
        )
        workload = context.workload
        setup = ActorSetup(workload.library, RunOptions(), "run", workload.tools, search=search)
        shipped = pickle.loads(pickle.dumps(setup))  # what crosses the wire to an actor

        monkeypatch.setenv("LAB_KEY", "sk-node-key")
        ranker = ShardActor(shipped)._search()
        assert ranker is not None
        assert asyncio.run(ranker.search("timestamp", 5))[0][0] == "web_sender"

        monkeypatch.delenv("LAB_KEY")
        without_key = ShardActor(shipped)._search()
        assert without_key is not None
        with pytest.raises(ProviderError, match="tool search embeddings on this node"):
            asyncio.run(without_key.search("timestamp", 5))
    finally:
        server.shutdown()


def test_ultra_parallel_shards_load_the_index_and_one_of_them_warns(tmp_path: Path) -> None:
    _library(tmp_path)
    ran = run_cli(
        "ultra-parallel",
        *("--model", "sim-oracle", "--num-shards", "2", "--num-instances", "4"),
        *("--tasks", str(tmp_path / "task_library_enhanced_v3.json"), "--tools", str(REGISTRY)),
        *("--prompt-types", "baseline", "--task-types", "simple_task"),
        *("--tool-index", str(write_index(tmp_path / "tool_index.pkl"))),
        *("--store", str(tmp_path / "store"), "--quiet", "--no-preflight"),
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    warnings = [line for line in ran.stderr.splitlines() if line.startswith("[WARNING]")]
    assert len(warnings) == 1 and "keyword fallback" in warnings[0], ran.stderr
    rows = open_store(tmp_path / "store", "json").scan(["similarity_source"]).to_pylist()
    assert len(rows) == 4
    assert {row["similarity_source"] for row in rows} == {"index:text-embedding-3-large"}
