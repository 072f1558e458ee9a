"""WorkflowBench's tool embedding index, read without running a line of the file's code.

WorkflowBench (``MCPEmbeddingManager.save_index``) pickles a dict: ``config`` (embedding model,
dimension), ``tool_names`` (the order of the FAISS index), ``tool_embeddings`` (per tool: name,
category, description and four 3,072-float vectors, ``combined_embedding`` the one searched) and
``index`` (``faiss.serialize_index`` of an ``IndexFlatIP`` over the L2-normalised combined
vectors, as a uint8 array). A pickle can name any callable and have it run while loading, so
``load_tool_index`` uses an unpickler that admits only numpy's array and dtype reconstructors and
plain containers: anything else (``os.system``, ``builtins.eval``, a class of WorkflowBench's
own) is refused with one line before it is called.

The ranking is WorkflowBench's, reproduced without faiss:

- ``find_similar_tools(name, k)`` (the phase-2 "semantic coverage" neighbours): the tool's raw
  combined vector, not normalised, against the index's normalised vectors, ``k + 1`` best by inner
  product (float32), the tool itself skipped, at most ``k`` kept;
- ``rank(vector, k)`` (``MCPEmbeddingManager.search``): the query vector L2-normalised, then the
  ``min(3k, n)`` best by inner product, the first ``k`` kept. Embedding a query's text needs the
  embedding model named in ``config``; ``IndexRanker`` is given a function that does it
  (``runners/tool_search.py`` builds one over the ``embeddings`` endpoint of runbench.toml).

The vectors searched are the ones stored in the serialised FAISS index when it has the expected
layout, else the combined vectors normalised as WorkflowBench builds the index.
"""

from __future__ import annotations

import asyncio
import io
import pickle
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runbench.errors import UsageError
from runbench.workload.similarity import NEIGHBOURS, ToolSimilarity

INDEX_SOURCE_PREFIX = "index:"
CACHED_QUERIES = 10_000  # rankings an IndexRanker keeps (WorkflowBench keeps every embedding)
MAX_INDEX_TOOLS = 100_000  # WorkflowBench's registry has 30; a registry of this size is no test
MAX_INDEX_FLOATS = 64 * 2**20  # tools × dimensions: 256 MiB of float32, the file size cap below
MAX_INDEX_BYTES = 256 * 2**20  # the repository's full index is 3.7 MB
# the only globals a WorkflowBench index needs: numpy arrays (both numpy 1 and 2 module names),
# their dtypes and numpy scalars. Everything else (builtins.eval, os.system, …) is refused.
ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        # numpy's arrays pickled at protocol 2 carry their bytes as _codecs.encode(text, "latin1"):
        # a codec lookup imports only modules of the standard encodings package, never code of
        # the pickle's choosing
        ("_codecs", "encode"),
    }
)
_FAISS_FLAT_IP = b"IxFI"
# fourcc, d (int32), ntotal (int64), two unused int64, is_trained (1 byte), metric (int32), then
# the code vector's length (uint64) and its bytes
_FAISS_HEADER_BYTES = 4 + 4 + 8 + 8 + 8 + 1 + 4 + 8

# a query's text to its vector, by the index's embedding model (an API call, hence async)
QueryEmbedding = Callable[[str], Awaitable[Sequence[float] | np.ndarray]]


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a callable outside ``ALLOWED_GLOBALS``: refused, never run."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ``ALLOWED_GLOBALS``; a pickle naming anything else stops loading there."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise RefusedGlobal(f"it names {module}.{name}, which an index never needs")
        return super().find_class(module, name)


def _table(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``document[key]`` when it is a JSON object, else an empty one."""
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def restricted_load(data: bytes) -> Any:
    """Unpickle ``data`` admitting numpy arrays, dtypes and plain containers only.

    Raises:
        RefusedGlobal: the pickle names a callable outside ``ALLOWED_GLOBALS``.
        Exception: whatever a malformed pickle raises (callers turn it into one line).
    """
    return _RestrictedUnpickler(io.BytesIO(data)).load()


@dataclass(frozen=True, slots=True, eq=False)
class ToolIndex:
    """The tools of one index, their raw combined vectors and the normalised vectors searched."""

    path: Path
    model: str
    tool_names: tuple[str, ...]
    descriptions: Mapping[str, str]
    combined: np.ndarray  # (n, d) float32, row i is tool_names[i]'s raw combined vector
    searched: np.ndarray  # (n, d) float32, what the FAISS index holds (L2-normalised)
    from_faiss: bool  # whether ``searched`` was read from the serialised FAISS index

    @property
    def source(self) -> str:
        """The ``similarity_source`` of scores computed with this index."""
        return f"{INDEX_SOURCE_PREFIX}{self.model}"

    def find_similar_tools(self, name: str, k: int = NEIGHBOURS) -> list[tuple[str, float]]:
        """WorkflowBench's neighbours of ``name`` (see the module docstring); [] if unknown."""
        try:
            row = self.tool_names.index(name)
        except ValueError:
            return []
        scores = self.searched @ self.combined[row]
        found: list[tuple[str, float]] = []
        for position in _top(scores, k + 1):
            other = self.tool_names[position]
            if other == name:
                continue
            found.append((other, float(scores[position])))
            if len(found) >= k:
                break
        return found

    def rank(self, vector: Sequence[float] | np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """WorkflowBench's search ranking for a query's embedding vector, best first."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.searched.shape[1]:
            raise ValueError(
                f"a query vector of {query.shape[0]} values against an index of "
                f"{self.searched.shape[1]}"
            )
        norm = np.float32(np.sqrt(np.dot(query, query)))
        if norm > 0:
            query = query / norm
        scores = self.searched @ query
        picked = _top(scores, min(3 * k, len(self.tool_names)))[:k]
        return [(self.tool_names[position], float(scores[position])) for position in picked]

    def ranker(self, embed: QueryEmbedding) -> IndexRanker:
        """A tool search (``await search(query, k)``) that ranks by this index.

        ``embed`` turns a query into its vector with the index's embedding model (``model``).
        """
        return IndexRanker(self, embed)

    def covered(self, names: Iterable[str]) -> tuple[str, ...]:
        """The tools of ``names`` this index holds a vector of, in the order given."""
        held = set(self.tool_names)
        return tuple(name for name in names if name in held)

    def similarity(self) -> ToolSimilarity:
        """Phase 2's tool similarity from this index's neighbours (``similarity_source``)."""
        return ToolSimilarity(
            self.source, {name: tuple(self.find_similar_tools(name)) for name in self.tool_names}
        )


class IndexRanker:
    """WorkflowBench's index search for a query text: its embedding, then ``ToolIndex.rank``.

    WorkflowBench keeps every query's embedding (``_get_embedding``'s permanent cache), so a
    query asked again costs no request; this keeps the ranking of the last ``CACHED_QUERIES``
    queries instead of their vectors (a few names each, not 3,072 floats), and tests that ask
    the same query at once share one request. A failed request is not kept: the next asks
    again.
    """

    def __init__(self, index: ToolIndex, embed: QueryEmbedding) -> None:
        self.index = index
        self._embed = embed
        self._ranked: OrderedDict[tuple[str, int], asyncio.Future[list[tuple[str, float]]]]
        self._ranked = OrderedDict()

    async def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best tools for ``query``. Raises what ``embed`` raises."""
        key = (query, k)
        pending = self._ranked.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._rank(query, k))
            self._ranked[key] = pending
            while len(self._ranked) > CACHED_QUERIES:
                self._ranked.popitem(last=False)
        else:
            self._ranked.move_to_end(key)
        try:
            return list(await asyncio.shield(pending))
        except BaseException:
            if self._ranked.get(key) is pending and pending.done():
                del self._ranked[key]
            raise

    async def _rank(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.index.rank(await self._embed(query), k)


def _top(scores: np.ndarray, count: int) -> list[int]:
    """Positions of the ``count`` highest scores, best first, ties by position (as FAISS)."""
    order = np.lexsort((np.arange(len(scores)), -scores.astype(np.float64)))
    return [int(position) for position in order[:count]]


def load_tool_index(path: Path) -> ToolIndex:
    """Read a WorkflowBench tool index pickle safely (see the module docstring).

    Raises:
        UsageError: the file is missing, too large, refused by the restricted unpickler, or
            not shaped like a WorkflowBench tool index — one line naming the file.
    """
    try:
        size = path.stat().st_size
        if not path.is_file():  # a FIFO or a device would block the read or never end
            raise UsageError(f"tool index {path} is not a regular file")
        if size > MAX_INDEX_BYTES:
            raise UsageError(
                f"tool index {path} is {size / 2**20:.0f} MiB, larger than any tool index "
                f"({MAX_INDEX_BYTES // 2**20} MiB)"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"tool index {path} does not exist") from None
    except OSError as error:
        raise UsageError(f"tool index {path} cannot be read ({error.strerror})") from None
    try:
        document = restricted_load(data)
    except RefusedGlobal as error:
        raise UsageError(f"tool index {path} refused: {error}") from None
    except Exception as error:  # any malformed pickle becomes one line
        raise UsageError(
            f"tool index {path} is not a readable pickle ({type(error).__name__})"
        ) from None
    try:
        return _index_of(path, document)
    except RecursionError:
        raise UsageError(f"tool index {path} nests its values too deeply to be an index") from None


def _index_of(path: Path, document: Any) -> ToolIndex:
    def bad(reason: str) -> UsageError:
        return UsageError(f"tool index {path} is not a WorkflowBench tool index: {reason}")

    if not isinstance(document, dict):
        raise bad("it does not hold a dict")
    embeddings = document.get("tool_embeddings", document.get("embeddings"))
    names = document.get("tool_names")
    config = _table(document, "config")
    if not isinstance(embeddings, dict) or not isinstance(names, list) or not names:
        raise bad("no 'tool_names' list and 'tool_embeddings' table")
    dimension = _check_size(names, embeddings, bad)
    rows = []
    descriptions = {}
    for name in names:
        entry = embeddings.get(name) if isinstance(name, str) else None
        if not isinstance(entry, dict) or entry.get("combined_embedding") is None:
            raise bad(f"tool {name!r} has no combined embedding")
        vector = entry["combined_embedding"]
        if isinstance(vector, list | tuple | np.ndarray) and len(vector) != dimension:
            raise bad("its combined embeddings differ in length")  # before any is copied
        try:
            rows.append(np.asarray(entry["combined_embedding"], dtype=np.float32).reshape(-1))
        except (TypeError, ValueError):
            raise bad(f"tool {name!r}'s combined embedding is not a vector of numbers") from None
        descriptions[name] = str(entry.get("description") or "")
    if len({row.shape[0] for row in rows}) != 1:
        raise bad("its combined embeddings differ in length")
    combined = np.vstack(rows)
    if not np.all(np.isfinite(combined)):
        raise bad("a combined embedding holds a value that is not finite")
    searched = _faiss_vectors(document.get("index"), *combined.shape)
    from_faiss = searched is not None
    if searched is None:
        norms = np.sqrt((combined * combined).sum(axis=1, keepdims=True))
        searched = (combined / np.where(norms > 0, norms, 1)).astype(np.float32)
    return ToolIndex(
        path=path,
        model=str(config.get("model") or "unknown"),
        tool_names=tuple(names),
        descriptions=descriptions,
        combined=combined,
        searched=searched,
        from_faiss=from_faiss,
    )


def _check_size(
    names: list[Any], embeddings: dict[Any, Any], bad: Callable[[str], UsageError]
) -> int:
    """The vectors' length, after refusing an index that would cost more memory than its file.

    A pickle can repeat one object by reference, so a few MiB may name millions of tools, or
    one long vector for each of them.
    """
    if len(names) > MAX_INDEX_TOOLS:
        raise bad(f"it names {len(names):,} tools, more than any registry ({MAX_INDEX_TOOLS:,})")
    seen: set[object] = set()
    for name in names:
        if isinstance(name, str) and name in seen:
            raise bad(f"tool {name!r} appears twice in 'tool_names'")
        seen.add(name)
    first = embeddings.get(names[0]) if isinstance(names[0], str) else None
    vector = first.get("combined_embedding") if isinstance(first, dict) else None
    dimension = len(vector) if isinstance(vector, list | tuple | np.ndarray) else 0
    if isinstance(vector, list | tuple | np.ndarray) and dimension == 0:
        raise bad("its combined embeddings are empty")
    if dimension * len(names) > MAX_INDEX_FLOATS:
        raise bad(
            f"{len(names):,} tools × {dimension:,} dimensions is more than an index holds "
            f"({MAX_INDEX_FLOATS:,} numbers)"
        )
    return dimension


def _faiss_vectors(raw: Any, count: int, dimension: int) -> np.ndarray | None:
    """The vectors of a serialised ``IndexFlatIP`` of ``count`` × ``dimension``, else None."""
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8:
        return None
    data = raw.tobytes()
    expected = _FAISS_HEADER_BYTES + count * dimension * 4
    if len(data) != expected or data[:4] != _FAISS_FLAT_IP:
        return None
    stored_d = int.from_bytes(data[4:8], "little", signed=True)
    stored_n = int.from_bytes(data[8:16], "little", signed=True)
    if (stored_d, stored_n) != (dimension, count):
        return None
    vectors = np.frombuffer(data, dtype="<f4", offset=_FAISS_HEADER_BYTES)
    return vectors.reshape(count, dimension).astype(np.float32)
