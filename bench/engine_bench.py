"""Engine benchmarks (issue 9): rate limits, the random fault mix, slow and fast endpoints.

Every run goes through the library path the CLI uses (``runners.session.prepare`` and
``execute`` with the real OpenAI-compatible client) against ``bench/chaos_server.py`` in its own
process. A test against the fake's constant reply costs three requests.

(c) a provider bucket of 240 requests/minute that starts full (refill 4/s), 300 calls at 16 in
    flight: runbench told nothing with no rate headers (adaptive + Retry-After only), told
    nothing but reading the server's x-ratelimit-* headers, and told rpm = 240. "Used" is
    accepted / (240 + seconds × 4), the burst-aware quota over the run; "refused" is the
    share of requests answered 429.
(e) the issue's fault mix: 15 % 429 and 5 % 503 with Retry-After 1 s, 10 % 500, 20 ms replies,
    20 tests at max_concurrency 8: wall time, mean concurrency limit, attempts.
(f) a slow endpoint (concurrency 2, 100 ms) and a fast one (concurrency 8, 20 ms), 40 tests
    each: each model's wall time together against alone.

    python bench/engine_bench.py [--write]   # --write replaces the Engine section of RESULTS.md
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Row = tuple[str, str, str]
RPM = 240
CALLS = 300
REQUESTS_PER_TEST = 3


@contextmanager
def chaos_server(**options: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(base_url, counts) of a fake server process; counts are filled in when it stops."""
    command = [sys.executable, str(HERE / "chaos_server.py"), json.dumps(options)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    counts: dict[str, Any] = {}
    try:
        yield f"http://127.0.0.1:{port}/v1", counts
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
        counts.update(json.loads(out.strip().splitlines()[-1]))


def _config(directory: Path, models: dict[str, dict[str, Any]], base_url: str) -> Path:
    lines = []
    for name, limits in models.items():
        lines += [
            f'[providers."p-{name}"]',
            'kind = "openai"',
            f'base_url = "{base_url}"',
            'api_key_env = "BENCH_KEY"',
            "request_timeout_s = 30",
            *(f"{key} = {value}" for key, value in limits.items()),
            "",
            f'[models."{name}"]',
            f'provider = "p-{name}"',
            "",
        ]
    path = directory / "runbench.toml"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def _run(directory: Path, models: dict[str, dict[str, Any]], base_url: str, tests: int, options):  # type: ignore[no-untyped-def]
    """Run ``tests`` tests of each model; (summary, seconds, finish time of each model)."""
    from runbench.matrix import build_matrix
    from runbench.runners.context import context_of_request
    from runbench.runners.session import RunRequest, execute, prepare
    from runbench.storage import open_store

    os.environ["BENCH_KEY"] = "bench"
    config = _config(directory, models, base_url)
    matrix = build_matrix(
        prompt_types="baseline",
        difficulties="easy",
        task_types="simple_task",
        rates="0.8",
        num_instances=tests,
    )
    store = open_store(directory / "store", "parquet")
    context = context_of_request(config, store)
    prepared = prepare(RunRequest(tuple(models), matrix, config_path=config), context)
    began = datetime.now(UTC)
    started = time.perf_counter()
    # three turns a test, so a plan of N tests is 3N requests whatever the workload's rules
    options = dataclasses.replace(options, max_turns=REQUESTS_PER_TEST)
    summary = asyncio.run(execute(prepared, context, options, check_credentials=False))
    seconds = time.perf_counter() - started
    rows = store.scan(["deployment", "provider", "recorded_at"]).to_pylist()
    store.close()
    finished: dict[str, float] = {}
    for row in rows:  # each endpoint's finish: its last record, to the microsecond
        endpoint = f"{row['provider']}/{row['deployment']}"
        at = (row["recorded_at"] - began).total_seconds()
        finished[endpoint] = max(finished.get(endpoint, 0.0), at)
    return summary, seconds, finished


def rate_limits(work: Path) -> list[Row]:
    from runbench.runners.engine import RunOptions
    from runbench.runners.retry import RetryPolicy

    options = RunOptions(max_workers=16, retry=RetryPolicy(max_retries=30))
    cases = [
        ("told nothing, no rate headers (adaptive + Retry-After)", False, {}, "—"),
        ("told nothing, reading x-ratelimit-* headers", True, {}, "≥ 95 % used, ≤ 2 % refused"),
        ("told rpm = 240", False, {"rpm": RPM}, "≥ 95 % used, ≤ 1 % refused"),
    ]
    rows: list[Row] = []
    for label, headers, told, target in cases:
        limits = {"max_concurrency": 16, **told}
        with chaos_server(requests_per_minute=RPM, rate_headers=headers) as (url, counts):
            _run(work / f"c-{len(rows)}", {"metered": limits}, url, CALLS // 3, options)
        answered = counts["answered"]
        accepted, refused = answered.get("200", 0), answered.get("429", 0)
        seconds = counts["last"] - counts["first"]
        used = accepted / (RPM + seconds * RPM / 60)
        rows.append(
            (
                f"(c) 240 rpm bucket starting full, {CALLS} calls, 16 in flight: {label}",
                f"{used:.0%} used, {refused / (accepted + refused):.1%} refused "
                f"({seconds:.1f} s; ideal {(CALLS - RPM) / (RPM / 60):.0f} s)",
                target,
            )
        )
        print(rows[-1], flush=True)
    return rows


def fault_mix(work: Path) -> list[Row]:
    from runbench.runners.engine import RunOptions
    from runbench.runners.retry import RetryPolicy

    mix = {
        "latency_s": 0.02,
        "fault_rate_429": 0.15,
        "fault_rate_500": 0.10,
        "fault_rate_503": 0.05,
        "retry_after_s": 1.0,
        "seed": 9,
    }
    rows: list[Row] = []
    for adaptive in (True, False):
        options = RunOptions(adaptive=adaptive, retry=RetryPolicy(max_retries=10))
        with chaos_server(**mix) as (url, _):
            summary, seconds, _ = _run(
                work / f"e-{adaptive}", {"flaky": {"max_concurrency": 8}}, url, 20, options
            )
        progress = next(iter(summary.endpoints.values()))
        label = "adaptive" if adaptive else "--no-adaptive"
        rows.append(
            (
                f"(e) fault mix (15 % 429, 10 % 500, 5 % 503, 20 ms), 20 tests, limit 8: {label}",
                f"{seconds:.1f} s, mean limit {progress.mean_limit:.1f}, "
                f"{progress.attempts} attempts ({progress.rate_limited} × 429), "
                f"{summary.finished} done, {summary.errors} errors",
                "≤ 12 s, mean limit ≥ 4, all done" if adaptive else "—",
            )
        )
        print(rows[-1], flush=True)
    return rows


def slow_and_fast(work: Path) -> list[Row]:
    from runbench.runners.engine import RunOptions

    models = {"slow": {"max_concurrency": 2}, "fast": {"max_concurrency": 8}}
    latency = {"slow": 0.1, "fast": 0.02}
    options = RunOptions(max_workers=16)
    alone: dict[str, float] = {}
    for name in models:
        with chaos_server(latency_by_model=latency) as (url, _):
            _, _, finished = _run(work / f"f-{name}", {name: models[name]}, url, 40, options)
        alone[name] = finished[f"p-{name}/{name}"]
    with chaos_server(latency_by_model=latency) as (url, _):
        _, _, together = _run(work / "f-both", models, url, 40, options)
    rows = []
    for name in models:
        endpoint = f"p-{name}/{name}"
        ratio = together[endpoint] / alone[name]
        rows.append(
            (
                f"(f) slow (2 × 100 ms) + fast (8 × 20 ms) endpoints, 40 tests each: {name}",
                f"{together[endpoint]:.2f} s together, {alone[name]:.2f} s alone "
                f"(ratio {ratio:.2f})",
                "fast ≤ 1.5 × alone" if name == "fast" else "—",
            )
        )
        print(rows[-1], flush=True)
    return rows


def run_all() -> list[Row]:
    with tempfile.TemporaryDirectory(
        prefix="runbench-engine-", dir=os.environ.get("BENCH_DIR")
    ) as directory:
        work = Path(directory)
        return rate_limits(work) + fault_mix(work) + slow_and_fast(work)


SECTION = "## Engine (`bench/engine_bench.py`)"


def section(rows: list[Row]) -> list[str]:
    return [
        SECTION,
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        *(f"| {name} | {value} | {target} |" for name, value, target in rows),
        "",
    ]


def write_section(rows: list[Row]) -> None:
    """Replace (or add) the Engine section of RESULTS.md, with its own date and machine."""
    sys.path.insert(0, str(HERE))
    from run_all import machine

    results = HERE / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    stamp = (
        f"Command: `python bench/engine_bench.py --write` (also part of `make bench`)  \n"
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  \nMachine: {machine()}\n"
    )
    block = "\n".join([SECTION, "", stamp.rstrip("\n"), *section(rows)[1:]])
    if SECTION in text:
        before, _, after = text.partition(SECTION)
        rest = after.split("\n## ", 1)
        text = before + block + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        marker = "## Notes on these figures"
        before, found, after = text.partition(marker)
        text = before + block + "\n" + found + after if found else text + "\n" + block
    results.write_text(text)


if __name__ == "__main__":
    figures = run_all()
    if "--write" in sys.argv:
        write_section(figures)
