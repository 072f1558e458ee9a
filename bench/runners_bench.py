"""Runner benchmarks (issue: runners): engine overhead, HTTP path, rate limits, shards.

(a) sim at zero latency: tests/s end to end (plan → run → durable store) against a bare loop
    running the same workload functions without scheduler or store;
(b) a loopback server answering after 100 ms, 64 workers: runbench's requests/s against a bare
    httpx2 loop with 64 concurrent requests to the same server, and client CPU per request;
(c) rate limits moved to engine_bench.py with the other engine figures (e) and (f);
(d) ultra-parallel with 1, 2 and 4 shards on a sim model at 50 ms latency: tests/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
Row = tuple[str, str, str]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoopbackServer:
    def __init__(self, delay_ms: float, rpm: float | None = None) -> None:
        command = [sys.executable, str(HERE / "loopback_server.py"), "--delay-ms", str(delay_ms)]
        if rpm:
            command += ["--rpm", str(rpm)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> dict[str, float]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def _config(
    directory: Path, base_url: str, *, rpm: int | None = None, concurrency: int = 64
) -> Path:
    path = directory / "runbench.toml"
    lines = [
        "[providers.bench]",
        'kind = "openai"',
        f'base_url = "{base_url}"',
        'api_key_env = "BENCH_KEY"',
        f"max_concurrency = {concurrency}",
        "request_timeout_s = 30",
    ]
    if rpm:
        lines.append(f"rpm = {rpm}")
    lines += [
        "",
        '[models."bench-model"]',
        'provider = "bench"',
        "",
        "[models.sim50]",
        'provider = "sim"',
        'profile = "average"',
        "latency_ms = 50",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_in_process(
    store_root: Path, models: tuple[str, ...], matrix, options, config: Path | None
):  # type: ignore[no-untyped-def]
    from runbench.runners.context import context_of_request
    from runbench.runners.session import RunRequest, execute, prepare
    from runbench.storage import open_store

    store = open_store(store_root, "parquet")
    context = context_of_request(config, store)
    prepared = prepare(RunRequest(models, matrix, config_path=config), context)
    summary = asyncio.run(execute(prepared, context, options, check_credentials=False))
    store.close()
    return prepared, summary


def sim_overhead(work: Path) -> list[Row]:
    from runbench.clients.sim import SimClient
    from runbench.matrix import build_matrix
    from runbench.plan import plan_tests
    from runbench.runners.engine import RunOptions
    from runbench.workload.executor import run_test
    from runbench.workload.tasks import builtin_library

    matrix = build_matrix(
        prompt_types="all", difficulties="all", num_instances=27
    )  # 75 cells → 2,025 tests
    tests = list(plan_tests(matrix.cells(["sim-average"]), matrix.num_instances))
    library = builtin_library()

    async def bare() -> None:
        client = SimClient("sim-average", "average")
        for test in tests:
            cell = test.cell
            task = library.task_for(cell.task_type, cell.difficulty, test.instance)
            await run_test(
                client,
                task,
                prompt_type=cell.prompt_type,
                test_id=test.test_id,
                tool_success_rate=cell.tool_success_rate,
            )

    started = time.perf_counter()
    asyncio.run(bare())
    bare_rate = len(tests) / (time.perf_counter() - started)
    started = time.perf_counter()
    _run_in_process(work / "sim", ("sim-average",), matrix, RunOptions(max_workers=16), None)
    runbench_rate = len(tests) / (time.perf_counter() - started)
    return [
        (
            "(a) sim, zero latency: bare loop of the workload functions",
            f"{bare_rate:,.0f} tests/s",
            "—",
        ),
        (
            "(a) sim, zero latency: runbench smart-batch, plan → run → durable store",
            f"{runbench_rate:,.0f} tests/s (ratio {runbench_rate / bare_rate:.2f})",
            "ratio ≥ 0.5",
        ),
    ]


def http_path(work: Path) -> list[Row]:
    import httpx2

    from runbench.matrix import build_matrix
    from runbench.runners.engine import RunOptions

    server = LoopbackServer(100)
    requests = 2000
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "x" * 400}]}

    async def bare() -> None:
        limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx2.AsyncClient(limits=limits, timeout=30) as client:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for index in range(requests):
                queue.put_nowait(index)

            async def worker() -> None:
                while not queue.empty():
                    queue.get_nowait()
                    response = await client.post(f"{server.base_url}/chat/completions", json=body)
                    response.json()

            async with asyncio.TaskGroup() as group:
                for _ in range(64):
                    group.create_task(worker())

    cpu, started = _cpu_s(), time.perf_counter()
    asyncio.run(bare())
    bare_rate, bare_cpu = requests / (time.perf_counter() - started), (_cpu_s() - cpu) / requests
    config = _config(work, server.base_url)
    os.environ["BENCH_KEY"] = "bench"
    matrix = build_matrix(
        prompt_types="all", difficulties="all", num_instances=27
    )  # 2,025 one-request tests
    cpu, started = _cpu_s(), time.perf_counter()
    _, summary = _run_in_process(
        work / "http", ("bench-model",), matrix, RunOptions(max_workers=64), config
    )
    elapsed, used = time.perf_counter() - started, _cpu_s() - cpu
    # a test is several turns, each one request: count the requests the server answered, so
    # requests/s here is the same unit as the bare loop's
    counters = server.stop()
    made = int(counters["accepted"] + counters["refused"])
    tests = summary.finished + summary.errors
    rate = made / elapsed
    return [
        (
            "(b) 100 ms loopback server, 64 in flight: bare httpx2 loop",
            f"{bare_rate:,.0f} requests/s, {bare_cpu * 1000:.2f} ms CPU/request",
            "—",
        ),
        (
            "(b) 100 ms loopback server, 64 workers: runbench (whole test: prompt, request, score, store)",
            f"{rate:,.0f} requests/s (ratio {rate / bare_rate:.2f}; {tests:,} tests, {made:,} requests), "
            f"{used / made * 1000:.2f} ms CPU/request",
            "ratio ≥ 0.8",
        ),
    ]


def shards(work: Path) -> list[Row]:
    config = _config(work, "http://127.0.0.1:9/v1")
    rows: list[Row] = []
    for count in (1, 2, 4):
        store = work / f"ultra-{count}"
        command = [
            sys.executable,
            "-m",
            "runbench",
            "ultra-parallel",
            "--model",
            "sim50",
            "--num-shards",
            str(count),
            "--phase",
            "5.1",
            "--num-instances",
            "200",
            "--max-workers",
            "64",
            "--config",
            str(config),
            "--store",
            str(store),
            "--storage",
            "parquet",
            "--quiet",
            "--json",
        ]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - started
        done = json.loads(result.stdout)["finished"]
        rows.append(
            (
                f"(d) ultra-parallel, sim at 50 ms, {count} shard(s), 64 workers split",
                f"{done / elapsed:,.0f} tests/s ({done} tests, {elapsed:.1f} s with startup)",
                "—",
            )
        )
    return rows


def run_all() -> list[Row]:
    with tempfile.TemporaryDirectory(
        prefix="runbench-runners-", dir=os.environ.get("BENCH_DIR")
    ) as directory:
        work = Path(directory)
        rows = sim_overhead(work)
        print(*rows, sep="\n", flush=True)
        rows += http_path(work)
        print(*rows[-2:], sep="\n", flush=True)
        rows += shards(work)
        print(*rows[-3:], sep="\n", flush=True)
    return rows


if __name__ == "__main__":
    for row in run_all():
        print(row)
