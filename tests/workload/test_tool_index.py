"""WorkflowBench's tool index: read safely, ranked as WorkflowBench ranks it."""

from __future__ import annotations

import asyncio
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runbench.errors import UsageError
from runbench.workload.tool_index import load_tool_index
from tests.fakes import wb_logs

NAMES = wb_logs.TOOLS
_vectors = wb_logs.tool_vectors


def _index_document(vectors: np.ndarray, *, with_faiss: bool = True) -> dict[str, Any]:
    return wb_logs.index_document(vectors, with_faiss=with_faiss)


def _write(tmp_path: Path, document: Any, name: str = "tool_index.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(pickle.dumps(document, protocol=4))
    return path


def _reference_neighbours(vectors: np.ndarray, name: str, k: int = 5) -> list[tuple[str, float]]:
    """WorkflowBench's find_similar_tools, written out: raw query against normalised rows."""
    stored = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    query = vectors[NAMES.index(name)].astype(np.float32)
    scores = stored @ query
    ranked = sorted(range(len(NAMES)), key=lambda i: -scores[i])[: k + 1]
    return [(NAMES[i], float(scores[i])) for i in ranked if NAMES[i] != name][:k]


@pytest.mark.parametrize("with_faiss", [True, False])
def test_neighbours_are_workflowbenchs(tmp_path: Path, with_faiss: bool) -> None:
    vectors = _vectors()
    index = load_tool_index(_write(tmp_path, _index_document(vectors, with_faiss=with_faiss)))
    assert index.from_faiss is with_faiss
    assert index.tool_names == NAMES and index.model == "text-embedding-3-large"
    for name in NAMES:
        got = index.find_similar_tools(name)
        want = _reference_neighbours(vectors, name)
        assert [n for n, _ in got] == [n for n, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-6)
    similarity = index.similarity()
    assert similarity.source == "index:text-embedding-3-large"
    assert similarity.nearest("file_reader") == index.find_similar_tools("file_reader")


def test_rank_normalises_the_query(tmp_path: Path) -> None:
    vectors = _vectors()
    index = load_tool_index(_write(tmp_path, _index_document(vectors)))
    ranked = index.rank(vectors[2] * 40.0, k=3)
    assert ranked[0][0] == "data_parser"
    assert ranked[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(ranked) == 3 and ranked[0][1] >= ranked[1][1] >= ranked[2][1]


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_a_command_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    document = _index_document(_vectors())
    document["config"]["hook"] = _RunsACommand(marker)
    path = _write(tmp_path, document, "evil.pkl")
    with pytest.raises(UsageError) as caught:
        load_tool_index(path)
    message = str(caught.value)
    assert not marker.exists()
    assert "\n" not in message and "evil.pkl" in message
    assert "posix.system" in message or "os.system" in message


def test_malformed_files_are_one_line(tmp_path: Path) -> None:
    torn = tmp_path / "torn.pkl"
    torn.write_bytes(pickle.dumps(_index_document(_vectors()))[:500])
    not_an_index = _write(tmp_path, {"something": [1, 2]}, "other.pkl")
    for path in (torn, not_an_index, tmp_path / "missing.pkl"):
        with pytest.raises(UsageError) as caught:
            load_tool_index(path)
        assert "\n" not in str(caught.value) and path.name in str(caught.value)


def test_a_ranker_searches_with_the_query_embedding(tmp_path: Path) -> None:
    vectors = _vectors()
    index = load_tool_index(_write(tmp_path, _index_document(vectors)))
    asked: list[str] = []

    async def embed(query: str) -> list[float]:
        asked.append(query)
        return list(vectors[NAMES.index("net_poster")] * 3.0)

    async def twice() -> list[tuple[str, float]]:
        ranker = index.ranker(embed)
        first, again = await asyncio.gather(
            ranker.search("send data over the network", 2),
            ranker.search("send data over the network", 2),
        )
        assert first == again
        return await ranker.search("send data over the network", 2)

    found = asyncio.run(twice())
    assert asked == ["send data over the network"], "one request for a query asked three times"
    assert found == index.rank(vectors[NAMES.index("net_poster")], 2)
    assert found[0][0] == "net_poster"


def test_an_index_that_would_cost_more_memory_than_its_file_is_refused(tmp_path: Path) -> None:
    """A pickle repeats objects by reference: a few MiB can name millions of tools, each with one
    shared 3,072-number vector (24 GB once copied), or one name twice."""
    vector = [0.5] * 3072
    entry = {"combined_embedding": vector, "description": "d"}
    many = {"tool_names": ["reader"] * 2_000_000, "tool_embeddings": {"reader": entry}}
    unique = [f"tool_{n}" for n in range(30_000)]  # within the tool cap, not the number cap
    wide = {"tool_names": unique, "tool_embeddings": dict.fromkeys(unique, entry)}
    twice = {"tool_names": ["reader", "writer", "reader"], "tool_embeddings": {"reader": entry}}
    empty = {"tool_names": ["reader"], "tool_embeddings": {"reader": {"combined_embedding": []}}}
    deep = {"tool_names": ["reader"], "tool_embeddings": {"reader": {**entry, "description": "X"}}}
    # 200,000 nested lists as the description, written opcode by opcode (the pickler would
    # recurse): EMPTY_LIST 200,000 times, then APPEND each into the one before
    deep_bytes = pickle.dumps(deep, protocol=4).replace(
        b"\x8c\x01X", b"]" * 200_000 + b"a" * 199_999
    )
    fifo = tmp_path / "fifo.pkl"
    os.mkfifo(fifo)
    cases = {
        _write(tmp_path, many, "many.pkl"): "more than any registry",
        _write(tmp_path, wide, "wide.pkl"): "more than an index holds",
        _write(tmp_path, twice, "twice.pkl"): "appears twice",
        _write(tmp_path, empty, "empty.pkl"): "are empty",
        tmp_path / "deep.pkl": "too deeply",
        fifo: "not a regular file",
    }
    (tmp_path / "deep.pkl").write_bytes(deep_bytes)
    for path, reason in cases.items():
        with pytest.raises(UsageError) as caught:
            load_tool_index(path)
        message = str(caught.value)
        assert "\n" not in message and path.name in message and reason in message, message


def test_numpy_arrays_pickled_at_protocol_2_load_and_text_is_not_called_refused(
    tmp_path: Path,
) -> None:
    document = _index_document(_vectors())
    old = tmp_path / "protocol2.pkl"
    old.write_bytes(pickle.dumps(document, protocol=2))  # arrays as _codecs.encode(..., latin1)
    assert load_tool_index(old).tool_names == load_tool_index(_write(tmp_path, document)).tool_names
    text = tmp_path / "notes.pkl"
    text.write_text("these are my notes, not a pickle\n" * 10)
    with pytest.raises(UsageError) as caught:
        load_tool_index(text)
    assert "is not a readable pickle" in str(caught.value) and "refused" not in str(caught.value)
