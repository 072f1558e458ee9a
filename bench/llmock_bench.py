"""Retries under the issue's chaos mix, judged by LLMock (a third-party chaos server on PyPI).

LLMock answers 15 % of requests with 429 and 5 % with 503 (both with Retry-After: 1 s), 10 %
with 500 (none), the rest after 20 ms. The plan is 40 tests (one model, each test about ten
model calls) at concurrency 8, run through the installed CLI as a user would, each run into a
fresh store. Per run: the run's own time (its ``--json`` summary), the whole command's wall
clock (interpreter start, pre-flight and summary included), tests finished, and LLMock's
verdict (``no_backoff``, ``gave_up``, ``retry_after_ignored``, ``retry_storm``, …).

    .venv/bin/python bench/llmock_bench.py [runs] [--workers N]   # prints a markdown table

"Concurrency 8" is the endpoint's ``max_concurrency = 8`` (requests in flight at the server) in
every run. ``--workers`` sets ``--max-workers``, the tests in flight: runbench's default (16) unless
given, so while one test waits out a Retry-After another test's request uses the free request
slot; with ``--workers 8`` a waiting test also holds one of the eight. The "most in flight"
column, counted from LLMock's journal, shows the server never answered more than eight at once.

Every test sends its own requests: the plan runs on a library of 40 distinct tasks written by
this script. LLMock groups attempts into calls by the request body, so two tests sending the same
body (the built-in library has 30 tasks a cell, and an instance repeats task ``instance mod
30``) would read as one call whose "retry" came early: a ``retry_after_ignored`` that is two tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from runbench.cli.run import DEFAULT_WORKERS  # noqa: E402  (after the path)
from runbench.storage import open_store  # noqa: E402
from runbench.workload.tasks import builtin_library  # noqa: E402
from tests.fakes.llmock_server import LLMock, start_llmock  # noqa: E402

GOAL_S = 24.0
TESTS, CONCURRENCY = 40, 8


def distinct_tasks(path: Path) -> Path:
    """A JSON-lines library of TESTS simple easy tasks, each its own: no two tests share a body."""
    library = builtin_library()
    lines = []
    for index in range(TESTS):
        task = library.task_for("simple_task", "easy", index).to_dict()
        task["task_id"] = f"llmock_{index:02d}"
        task["description"] = f"{task['description']} (order {index})"
        lines.append(json.dumps(task))
    path.write_text("\n".join(lines) + "\n")
    return path


def one_run(server: LLMock, root: Path, workers: int) -> dict[str, object]:
    """One run of the plan into a fresh store; its times, counts and LLMock's verdict."""
    server.reset()
    config = root / "runbench.toml"
    config.write_text(
        f'[providers.llmock]\nkind = "openai"\nbase_url = "{server.base_url}"\n'
        f'api_key_env = "LLMOCK_KEY"\nmax_concurrency = {CONCURRENCY}\n\n'
        '[models."mock-gpt"]\nprovider = "llmock"\ndeployments = ["gpt-4o-mini"]\n'
    )
    command = [sys.executable, "-m", "runbench", "smart-batch", "--model", "mock-gpt"]
    command += ["--prompt-types", "baseline", "--difficulty", "easy"]
    command += ["--task-types", "simple_task", "--num-instances", str(TESTS)]
    command += ["--tasks", str(distinct_tasks(root / "tasks.jsonl"))]
    command += ["--max-workers", str(workers), "--config", str(config)]
    command += ["--store", str(root / "store"), "--json"]
    environment = {**os.environ, "LLMOCK_KEY": "sk-llmock-bench-0123456789"}
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment, stdin=subprocess.DEVNULL
    )
    wall = time.monotonic() - started
    summary = json.loads(result.stdout)
    verdict = server.verdict()
    in_flight = most_in_flight(server.requests())
    for row in open_store(root / "store", "json").scan().to_pylist():
        if row["status"] == "error":  # what an unfinished test says, to stderr
            print(f"error row: {row['error_category']}: {row['error_message']}", file=sys.stderr)
    return {
        "run_s": summary["seconds"],
        "wall_s": wall,
        "finished": summary["finished"],
        "errors": summary["errors"],
        "attempts": verdict["attempts"],
        "faults": verdict["faults_injected"],
        "findings": sorted({f["code"] for f in verdict["findings"]}) or ["none"],
        "in_flight": in_flight,
    }


def most_in_flight(requests: list[dict[str, object]]) -> int:
    """The most requests the server was answering at once, from its journal's start/end times."""
    events = sorted(
        [(float(r["started_at"]), 1) for r in requests]  # type: ignore[arg-type]
        + [(float(r["ended_at"]), -1) for r in requests]  # type: ignore[arg-type]
    )  # at one instant an end sorts before a start: back-to-back requests do not overlap
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=int, nargs="?", default=3)
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="tests in flight (--max-workers)"
    )
    arguments = parser.parse_args()
    server = start_llmock(
        latency_ms=20, error_rate_429=0.15, error_rate_500=0.10, error_rate_503=0.05
    )
    try:
        print(
            "| run | run time | whole command | tests finished | attempts (faults) "
            "| most in flight | verdict |"
        )
        print("|---|---|---|---|---|---|---|")
        for index in range(1, arguments.runs + 1):
            with tempfile.TemporaryDirectory() as folder:
                row = one_run(server, Path(folder), arguments.workers)
            mark = "✓" if float(row["run_s"]) <= GOAL_S else "✗"  # type: ignore[arg-type]
            print(
                f"| {index} | {row['run_s']:.1f} s {mark} | {row['wall_s']:.1f} s | "
                f"{row['finished']}/{TESTS} ({row['errors']} errors) | "
                f"{row['attempts']} ({row['faults']}) | {row['in_flight']} | "
                f"{', '.join(row['findings'])} |",  # type: ignore[arg-type]
                flush=True,
            )
    finally:
        server.close()


if __name__ == "__main__":
    main()
