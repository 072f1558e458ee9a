"""How alike two tools are: embeddings when configured, else a deterministic trigram fallback.

WorkflowBench credits a required tool that was never called when a semantically similar tool
was (``StableScorer._calculate_semantic_tool_coverage`` via
``MCPEmbeddingManager.find_similar_tools(k=5)``, on ``text-embedding-3-large`` vectors of each
tool). ``ToolSimilarity`` answers the same question from vectors of ``"name: description"``:

- from an ``Embedder`` (``ToolSimilarity.from_embedder``), when runbench.toml names an
  ``embeddings`` model; the record's ``similarity_source`` is then ``embeddings:<model>``;
- otherwise from character-trigram counts of the same text (``ToolSimilarity.fallback``),
  recorded as ``fallback:trigram``. It needs no network and gives the same numbers everywhere;
  it rewards shared words (``data_parser`` ~ ``data_validator``) rather than meaning, so scores
  under it are comparable with each other, not with embedding-scored rows.

Similarity is the cosine of the two vectors, in [0, 1] for both sources here.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runbench.chat import Embedder
from runbench.workload.tools import Tool, ToolRegistry, registry

FALLBACK_SOURCE = "fallback:trigram"
NEIGHBOURS = 5  # WorkflowBench's k in find_similar_tools


def tool_text(tool: Tool) -> str:
    """The text embedded for a tool: its name in words and what it does."""
    return f"{tool.name.replace('_', ' ')}: {tool.description}"


def _trigrams(text: str) -> dict[str, float]:
    padded = f"  {text.lower()} "
    return dict(Counter(padded[index : index + 3] for index in range(len(padded) - 2)))


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    dot = sum(value * b.get(key, 0.0) for key, value in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


@dataclass(frozen=True, slots=True)
class ToolSimilarity:
    """Where the vectors came from, and every tool's nearest tools, computed once.

    Neighbours are computed when the object is built (30 tools: milliseconds for trigrams, well
    under a second for 3,072-dimension embeddings), so scoring a test only looks them up and the
    object never changes afterwards.
    """

    source: str
    neighbours: Mapping[str, tuple[tuple[str, float], ...]]

    @classmethod
    def from_vectors(
        cls, source: str, vectors: Mapping[str, Mapping[str, float]]
    ) -> ToolSimilarity:
        """Neighbours by cosine similarity, best first, ties by name."""
        neighbours = {}
        for name, vector in vectors.items():
            scored = [
                (other, _cosine(vector, other_vector))
                for other, other_vector in vectors.items()
                if other != name
            ]
            scored.sort(key=lambda item: (-item[1], item[0]))
            neighbours[name] = tuple(scored[:NEIGHBOURS])
        return cls(source, neighbours)

    @classmethod
    def fallback(cls, tools: Mapping[str, Tool]) -> ToolSimilarity:
        """Trigram vectors: deterministic, offline; recorded as ``fallback:trigram``."""
        return cls.from_vectors(
            FALLBACK_SOURCE, {name: _trigrams(tool_text(t)) for name, t in tools.items()}
        )

    @classmethod
    async def from_embedder(cls, embedder: Embedder, tools: Mapping[str, Tool]) -> ToolSimilarity:
        """Embed every tool once (one request); build this once per run, not per test.

        Raises:
            ProviderError: what the embedder raises.
        """
        names = list(tools)
        vectors = await embedder.embed([tool_text(tools[name]) for name in names])
        return cls.from_vectors(
            embedder.name,
            {
                name: {str(index): value for index, value in enumerate(vector)}
                for name, vector in zip(names, vectors, strict=True)
            },
        )

    def nearest(self, name: str) -> list[tuple[str, float]]:
        """The tools most similar to ``name`` (itself excluded, at most 5), best first."""
        return list(self.neighbours.get(name, ()))

    def coverage_of(self, required: str, called: Sequence[str]) -> float:
        """1 if ``required`` was called, else its best similarity to a called near neighbour."""
        if required in called:
            return 1.0
        return max(
            (score for other, score in self.nearest(required) if other in called), default=0.0
        )


def default_similarity(tools: Mapping[str, Tool]) -> ToolSimilarity:
    """The fallback for ``tools``; for the built-in registry, one shared instance.

    Pass ``similarity=`` to ``run_test`` for any other registry, built once per run: the
    fallback of 30 tools costs a few milliseconds to build.
    """
    if isinstance(tools, ToolRegistry) and tools.is_builtin:
        return _builtin_fallback()
    return ToolSimilarity.fallback(tools)


@functools.cache
def _builtin_fallback() -> ToolSimilarity:
    # the built-in registry never changes, so neither does this (as with tools.registry())
    return ToolSimilarity.fallback(registry())
