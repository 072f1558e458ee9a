"""Retries under the issue's chaos mix, judged by LLMock (a third-party chaos server on PyPI).

LLMock answers 15 % of requests with 429 and 5 % with 503 (both with Retry-After: 1 s), 10 %
with 500 (none), the rest after 20 ms. The plan is 40 tests (one model, each test about ten
model calls) at concurrency 8, run through the installed CLI as a user would, each run into a
fresh store. Per run: the run's own time (its ``--json`` summary), the whole command's wall
clock (interpreter start, pre-flight and summary included), tests finished, and LLMock's
verdict (``no_backoff``, ``gave_up``, ``retry_after_ignored``, ``retry_storm``, …).

    .venv/bin/python bench/llmock_bench.py [runs] [--workers N]   # prints a markdown table

"Concurrency 8" is the endpoint's ``max_concurrency = 8`` (requests in flight at the server) in
every run. ``--workers`` sets ``--max-workers``, the tests in flight: 8 by default, so a test
that waits out a Retry-After also holds one of the eight; with 16, another test's request uses
the free request slot meanwhile (what runbench's default of 16 workers does), and the server
still never sees more than eight requests at once.
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

from runbench.storage import open_store  # noqa: E402  (after the path)
from tests.fakes.llmock_server import LLMock, start_llmock  # noqa: E402

GOAL_S = 24.0
TESTS, CONCURRENCY = 40, 8


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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=int, nargs="?", default=3)
    parser.add_argument("--workers", type=int, default=CONCURRENCY, help="tests in flight")
    arguments = parser.parse_args()
    server = start_llmock(
        latency_ms=20, error_rate_429=0.15, error_rate_500=0.10, error_rate_503=0.05
    )
    try:
        print("| run | run time | whole command | tests finished | attempts (faults) | verdict |")
        print("|---|---|---|---|---|---|")
        for index in range(1, arguments.runs + 1):
            with tempfile.TemporaryDirectory() as folder:
                row = one_run(server, Path(folder), arguments.workers)
            mark = "✓" if float(row["run_s"]) <= GOAL_S else "✗"  # type: ignore[arg-type]
            print(
                f"| {index} | {row['run_s']:.1f} s {mark} | {row['wall_s']:.1f} s | "
                f"{row['finished']}/{TESTS} ({row['errors']} errors) | "
                f"{row['attempts']} ({row['faults']}) | {', '.join(row['findings'])} |",  # type: ignore[arg-type]
                flush=True,
            )
    finally:
        server.close()


if __name__ == "__main__":
    main()
