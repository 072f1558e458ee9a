"""A run's tool search and phase-2 similarity: WorkflowBench's embedding index when given.

WorkflowBench answers ``<tool_search>`` with ``MCPEmbeddingManager.search``: the query is
embedded by the index's model (``text-embedding-3-large``), one request per new query, and
ranked against the index (``workload/tool_index.py``). Phase 2 credits a required tool by its
index neighbours (``find_similar_tools``), which needs no request. So a run with an index
(``--tool-index FILE`` or ``tool_index =`` in runbench.toml) scores phase 2 by the index always,
and ranks searches by it when the query embeddings can be had: from the model runbench.toml
names with ``embeddings = "<model>"``, through ``clients/embeddings.py`` as ``rescore`` and the
similarity use it.

When they cannot (no ``embeddings`` model, a simulated one, a key not set, a probe request that
fails, vectors of another length than the index's), search falls back to WorkflowBench's own
keyword search (``wb_feedback.KeywordRanker``) and the run says so in ONE warning line. An index
that holds none of the run's tools falls back entirely (search and phase 2), with one line too.
A query embedding that fails during the run, after its retries, is that test's ``api_error``
row (never a model failure, never a stopped model provider).

``SearchSetup`` is what the run context holds (picklable: Ray actors get it as is);
``open_search`` turns it into the ``RunSearch`` of one run, inside its event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from runbench.clients.embeddings import tool_similarity
from runbench.config import ModelConfig, RunbenchConfig
from runbench.errors import (
    AuthenticationError,
    ConfigError,
    ProviderError,
    QuotaExhaustedError,
)
from runbench.runners.retry import RetryPolicy, call_with_retries
from runbench.workload.similarity import ToolSimilarity
from runbench.workload.tool_index import ToolIndex
from runbench.workload.tools import Tool
from runbench.workload.wb_feedback import ToolRanker

log = logging.getLogger("runbench.runners")
PROBE_QUERY = "tool search"  # one request at the start proves the endpoint and vector length
DEFAULT_EMBEDDING_CONCURRENCY = 8


class QueryEmbedder(Protocol):
    """Texts to vectors over an API (``clients.embeddings.OpenAIEmbedder``), closed after."""

    name: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aclose(self) -> None: ...


EmbedderFactory = Callable[[ModelConfig], QueryEmbedder]


def embedder_of(model: ModelConfig) -> QueryEmbedder:
    """The embedder of ``model``'s first deployment (the run context's default factory).

    Raises:
        ConfigError: the model is simulated (no embeddings endpoint) or its key is not set.
    """
    from runbench.clients.embeddings import OpenAIEmbedder
    from runbench.config import api_key

    deployment = model.deployments[0]
    if deployment.kind == "sim":
        raise ConfigError(f"embeddings model '{model.name}' is simulated")
    return OpenAIEmbedder(model, deployment, api_key(deployment))


@dataclass(frozen=True, slots=True)
class SearchSetup:
    """What a run's tool search is made of: the index (or None) and the embeddings model."""

    index: ToolIndex | None = None
    embeddings: ModelConfig | None = None

    def concurrency(self) -> int:
        """Query embeddings in flight at once: the embeddings endpoint's concurrency limit."""
        if self.embeddings is None:
            return DEFAULT_EMBEDDING_CONCURRENCY
        return max(1, self.embeddings.deployments[0].limits.max_concurrency)


NO_INDEX = SearchSetup()


@dataclass(slots=True)
class RunSearch:
    """One run's search: the ranker (None: the keyword fallback) and phase 2's similarity.

    ``served`` is the setup actors of the run use: the index only when this run ranks by it.
    """

    similarity: ToolSimilarity
    ranker: ToolRanker | None = None
    warning: str | None = None
    served: SearchSetup = NO_INDEX
    _embedder: QueryEmbedder | None = None

    async def aclose(self) -> None:
        """Close the embeddings connection, if this run opened one."""
        if self._embedder is not None:
            await self._embedder.aclose()


def index_ranker(
    setup: SearchSetup, embedder: QueryEmbedder, retry: RetryPolicy | None = None
) -> ToolRanker:
    """The index's ranker, its query embeddings through ``embedder`` with the run's retries.

    A credentials or quota failure of the embeddings endpoint becomes a plain ``ProviderError``
    (the test's ``api_error`` row): the model's provider is not the one to stop.
    """
    assert setup.index is not None
    slots = asyncio.Semaphore(setup.concurrency())
    policy = retry or RetryPolicy()

    async def embed(query: str) -> np.ndarray:
        async with slots:
            try:
                vectors = await call_with_retries(lambda: embedder.embed([query]), policy)
            except (AuthenticationError, QuotaExhaustedError) as error:
                raise ProviderError(
                    f"tool search embeddings: {error.message}",
                    provider=error.provider,
                    deployment=error.deployment,
                ) from None
        return np.asarray(vectors[0], dtype=np.float32)

    return setup.index.ranker(embed)


async def open_search(
    config: RunbenchConfig,
    setup: SearchSetup,
    tools: Mapping[str, Tool],
    embedders: EmbedderFactory = embedder_of,
    retry: RetryPolicy | None = None,
    *,
    warn: bool = True,
) -> RunSearch:
    """The run's search, with at most one warning line logged (module docstring).

    ``warn=False`` logs nothing (the warning stays in ``RunSearch.warning``): the shards of
    one ultra-parallel run share a host and configuration, so one of them speaks for all.

    Raises:
        ConfigError: no index, and the ``embeddings`` model of the similarity is simulated or
            its key is not set (as before indexes: ``clients.embeddings.tool_similarity``).
        ProviderError: no index, and the similarity's embeddings request failed.
    """
    search = await _open(config, setup, tools, embedders, retry)
    if search.warning and warn:
        log.warning("%s", search.warning)
    return search


async def _open(
    config: RunbenchConfig,
    setup: SearchSetup,
    tools: Mapping[str, Tool],
    embedders: EmbedderFactory,
    retry: RetryPolicy | None,
) -> RunSearch:
    index = setup.index
    if index is None:
        return RunSearch(await tool_similarity(config, tools))
    covered = index.covered(tools)
    if not covered:
        return RunSearch(
            await tool_similarity(config, tools),
            warning=f"tool index {index.path} holds none of the run's {len(tools)} tools: "
            "tool search and phase 2 use the fallback (docs/SCORING.md)",
        )
    similarity = index.similarity()
    missing = len(tools) - len(covered)
    gap = f"; {missing} of the run's tools are not in it" if missing else ""
    reason = await _embedder_or_reason(setup, embedders, retry or RetryPolicy())
    if isinstance(reason, str):
        return RunSearch(
            similarity,
            warning=f"tool index {index.path}: search queries cannot be embedded "
            f"({reason}): tool search uses WorkflowBench's keyword fallback, phase 2 the "
            f"index{gap}",
        )
    warning = f"tool index {index.path}: {missing} of the run's tools are not in it"
    ranker = index_ranker(setup, reason, retry)
    return RunSearch(similarity, ranker, warning if missing else None, setup, reason)


async def _embedder_or_reason(
    setup: SearchSetup, embedders: EmbedderFactory, retry: RetryPolicy
) -> QueryEmbedder | str:
    """The embedder of the index's queries, proven by one probe, or why there is none.

    The probe has the run's retries: a passing 503 does not cost the run its index search.
    """
    assert setup.index is not None
    if setup.embeddings is None:
        return 'no embeddings model; set embeddings = "<model>" in runbench.toml'
    try:
        embedder = embedders(setup.embeddings)
    except ConfigError as error:
        return error.message
    try:
        vector = (await call_with_retries(lambda: embedder.embed([PROBE_QUERY]), retry))[0]
        setup.index.rank(vector, 1)
    except ProviderError as error:
        await embedder.aclose()
        return error.message
    except (ValueError, TypeError, IndexError) as error:  # another vector length, no vector
        await embedder.aclose()
        return f"{setup.embeddings.name}: {error}"
    return embedder


__all__ = [
    "NO_INDEX",
    "EmbedderFactory",
    "QueryEmbedder",
    "RunSearch",
    "SearchSetup",
    "embedder_of",
    "index_ranker",
    "open_search",
]
