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

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runbench.workload.tools import Tool

from runbench.chat import Embedder

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
    """Vectors of every tool of a registry and the name of where they came from."""

    source: str
    vectors: Mapping[str, Mapping[str, float]]

    @classmethod
    def fallback(cls, tools: Mapping[str, Tool]) -> ToolSimilarity:
        """Trigram vectors: deterministic, offline; recorded as ``fallback:trigram``."""
        return cls(FALLBACK_SOURCE, {name: _trigrams(tool_text(t)) for name, t in tools.items()})

    @classmethod
    async def from_embedder(cls, embedder: Embedder, tools: Mapping[str, Tool]) -> ToolSimilarity:
        """Embed every tool once (one request); build this once per run, not per test.

        Raises:
            ProviderError: what the embedder raises.
        """
        names = list(tools)
        vectors = await embedder.embed([tool_text(tools[name]) for name in names])
        return cls(
            embedder.name,
            {
                name: {str(index): value for index, value in enumerate(vector)}
                for name, vector in zip(names, vectors, strict=True)
            },
        )

    def nearest(self, name: str, k: int = NEIGHBOURS) -> list[tuple[str, float]]:
        """The ``k`` tools most similar to ``name`` (itself excluded), best first."""
        vector = self.vectors.get(name)
        if vector is None:
            return []
        scored = [
            (other, _cosine(vector, other_vector))
            for other, other_vector in self.vectors.items()
            if other != name
        ]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:k]

    def coverage_of(self, required: str, called: Sequence[str]) -> float:
        """1 if ``required`` was called, else its best similarity to a called near neighbour."""
        if required in called:
            return 1.0
        return max(
            (score for other, score in self.nearest(required) if other in called), default=0.0
        )
