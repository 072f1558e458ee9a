"""WorkflowBench per-test logs and a tool index of our own, in WorkflowBench's formats.

The shapes are those ``BatchTestRunner.run_single_test`` writes (``test_logs/*_log.json``) and
``MCPEmbeddingManager.save_index`` pickles; the contents are small and invented here. Scores in
``result`` are left to each test to fill in, computed by hand from WorkflowBench's formulas.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

TOOLS = ("file_reader", "file_writer", "data_parser", "data_validator", "net_fetcher", "net_poster")


def tool_vectors(seed: int = 7, dimension: int = 16) -> np.ndarray:
    """Raw combined vectors, not unit length (WorkflowBench queries neighbours with them raw)."""
    return np.random.default_rng(seed).normal(size=(len(TOOLS), dimension))


def faiss_flat_ip(vectors: np.ndarray) -> np.ndarray:
    """The bytes ``faiss.serialize_index`` writes for an IndexFlatIP of the normalised rows."""
    count, dimension = vectors.shape
    normalised = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("<f4")
    header = b"IxFI" + struct.pack("<iqqqBiQ", dimension, count, 0, 0, 1, 0, count * dimension * 4)
    return np.frombuffer(header + normalised.tobytes(), dtype=np.uint8).copy()


def index_document(vectors: np.ndarray, *, with_faiss: bool = True) -> dict[str, Any]:
    """A tool index as WorkflowBench pickles it."""
    return {
        "config": {"model": "text-embedding-3-large", "dimension": vectors.shape[1]},
        "tool_names": list(TOOLS),
        "tool_embeddings": {
            name: {
                "tool_name": name,
                "description": f"does {name}",
                "combined_embedding": vectors[row].tolist(),
                "description_embedding": vectors[row].tolist(),
            }
            for row, name in enumerate(TOOLS)
        },
        "index": faiss_flat_ip(vectors) if with_faiss else None,
    }


def write_index(path: Path, vectors: np.ndarray | None = None) -> Path:
    path.write_bytes(pickle.dumps(index_document(tool_vectors() if vectors is None else vectors)))
    return path


def reference_similarity(vectors: np.ndarray, required: str, called: set[str]) -> float:
    """WorkflowBench's semantic coverage of one required tool, written out independently."""
    if required in called:
        return 1.0
    stored = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    scores = stored @ vectors[TOOLS.index(required)].astype(np.float32)
    ranked = sorted(range(len(TOOLS)), key=lambda i: -scores[i])[:6]
    neighbours = [(TOOLS[i], float(scores[i])) for i in ranked if TOOLS[i] != required][:5]
    return max((score for name, score in neighbours if name in called), default=0.0)


def plan_text(plan: list[str]) -> str:
    steps = "\n".join(
        f"{number}. Execute {tool} (Semantic match: 40%)\n   - Confidence: High (80.0%)"
        for number, tool in enumerate(plan, 1)
    )
    return (
        "Execute a basic task task.\n\n    ## Workflow Execution Plan\n\n    "
        f"{steps}\n\n### Execution Summary:\n- Critical Steps: {len(plan)}\n\nBegin."
    )


def feedback(tool: str, ok: bool) -> str:
    if ok:
        return f"✅ {tool} executed successfully.\nOutput: {{}}\n\nCurrent progress: continue."
    return f"❌ {tool} failed.\nError: TIMEOUT: Operation timed out\n\nConsider alternatives."


def log(
    *,
    model: str = "DeepSeek_V3_0324",
    task_type: str = "basic_task",
    task_id: str = "task_0000abcd",
    prompt_type: str = "optimal",
    test_number: int = 17,
    required: list[str],
    plan: list[str],
    replies: list[str],
    runs: list[tuple[str, bool]],
    result: dict[str, Any],
    api_issues: list[dict[str, Any]] | None = None,
    timestamp: str = "2025-08-28T14:09:41.918486",
) -> dict[str, Any]:
    """One log: each reply is a turn; a reply with ``<tool_call>`` gets the next runs' feedback."""
    conversation: list[dict[str, Any]] = []
    pending = list(runs)
    for turn, reply in enumerate(replies, 1):
        conversation.append({"role": "assistant", "content": reply, "turn": turn})
        if "<tool_call>" in reply:
            tool, ok = pending.pop(0)
            conversation.append({"role": "user", "content": feedback(tool, ok), "turn": turn})
    flaw = prompt_type.removeprefix("flawed_") if prompt_type.startswith("flawed_") else None
    return {
        "test_id": f"{model}_{task_type}_inst{task_id}_test{test_number}_{prompt_type}",
        "task_type": task_type,
        "prompt_type": prompt_type,
        "timestamp": timestamp,
        "task_instance": {
            "id": task_id,
            "description": "Read, parse and write data.",
            "task_type": task_type,
            "required_tools": required,
            "expected_outputs": {},
        },
        "prompt": plan_text(plan),
        "is_flawed": flaw is not None,
        "flaw_type": flaw,
        "conversation_history": conversation,
        "execution_history": [
            {"tool": tool, "success": ok, "output": "{}", "error": None, "execution_time": 0.01}
            for tool, ok in runs
        ],
        "llm_response": "{}",
        "extracted_tool_calls": [tool for tool, ok in runs if ok],
        "api_issues": api_issues or [],
        "result": {
            "success": False,
            "final_score": 0.0,
            "execution_time": 12.5,
            "workflow_score": 0.0,
            "phase2_score": 0.0,
            "quality_score": 0.0,
            "tool_calls": [tool for tool, ok in runs if ok],
            "error": None,
            "error_type": None,
            **result,
        },
    }


def timeout_log(task_type: str = "simple_task", stamp: str = "20250827_002757") -> dict[str, Any]:
    """The runner's log of a test it stopped after 10 minutes: no model named, no conversation."""
    return {
        "test_id": f"{task_type}_timeout_{stamp}",
        "task_type": task_type,
        "prompt_type": "optimal",
        "timestamp": "2025-08-27T00:27:57.039550",
        "task_instance": {"required_tools": []},
        "prompt": "Task timeout after 10 minutes",
        "llm_response": "No response - timeout after 10 minutes",
        "extracted_tool_calls": [],
        "conversation_history": [],
        "execution_history": [],
        "is_flawed": False,
        "flaw_type": None,
        "result": {
            "success": False,
            "final_score": 0.0,
            "execution_time": 600,
            "workflow_score": 0.0,
            "phase2_score": 0.0,
            "quality_score": 0.0,
            "tool_calls": [],
            "error": "Test timeout after 10 minutes",
            "error_type": "timeout",
        },
    }


def write_log(folder: Path, document: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{document['test_id']}_log.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
