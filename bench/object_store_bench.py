"""The Parquet store on S3 beside the local Parquet store, on the same machine (issue 17).

Starts moto's S3 server on 127.0.0.1 at a free port (an in-memory S3 over loopback: it shows
runbench's own cost and the protocol's round trips, not a real bucket's latency), then measures:

* durable appends/s, single records, 1 and 4 writer processes: local Parquet store vs s3://
  (an s3:// append is durable in the local write-ahead segment; parts are uploaded every
  20,000 rows and at exit, inside the timed appends);
* the whole `runbench report` command over BENCH_ROWS rows (default 1,000,000), compacted:
  local, s3:// with a cold cache (every part downloaded) and with a warm one;
* a claim of 64 tests on that store (claim + release, in-process): the first one (it reads
  every stored row's id once) and the median of 20 later ones (only rows added since).

Run: `.venv/bin/python bench/object_store_bench.py` (prints a Markdown section for
bench/RESULTS.md); `BENCH_APPENDS_ONLY=1` skips the report part, `BENCH_ROWS` sets its size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run_all import MILLION, append_throughput, machine  # noqa: E402

from tests.fakes.s3_server import start_moto  # noqa: E402


def report_seconds(store: str, env: dict[str, str], *, fresh_cache: Path | None = None) -> float:
    """Wall time of the whole `runbench report` (best of three); a fresh cache each time if given."""
    runs = []
    for index in range(3):
        run_env = dict(env)
        if fresh_cache is not None:
            run_env["RUNBENCH_CACHE"] = str(fresh_cache / str(index))
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "runbench", "report", "--store", store, "--storage", "parquet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            env=run_env,
        )
        runs.append(time.perf_counter() - started)
    return min(runs)


def claim_seconds(store_arg: str) -> tuple[float, float]:
    """The first claim of 64 tests on a full store, and the median of 20 later ones."""
    import statistics

    from runbench.storage import open_store

    store = open_store(store_arg, "parquet")
    ids = [f"{index:032x}" for index in range(64 * 21)]
    times = []
    for batch in range(21):
        started = time.perf_counter()
        store.claim(ids[batch * 64 : (batch + 1) * 64], "bench-run", 60.0)
        store.release("bench-run")
        times.append(time.perf_counter() - started)
    store.close()
    return times[0], statistics.median(times[1:])


def fill(store_arg: str) -> None:
    from runbench.records import records_to_table
    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    store = open_store(store_arg, "parquet")
    block = 100_000
    for index in range(0, MILLION, block):
        size = min(block, MILLION - index)
        records = list(synthetic_records(size, seed=index, start_instance=index * 10))
        store.append_table(records_to_table(records))
    store.compact()
    store.close()


def main() -> None:
    server = start_moto()
    work = Path(tempfile.mkdtemp(prefix="rb-s3-bench-"))
    try:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": server.url,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
                "AWS_REGION": "us-east-1",
                "AWS_ALLOW_HTTP": "true",
                "RUNBENCH_CACHE": str(work / "cache"),
            }
        )
        import boto3

        boto3.client("s3", endpoint_url=server.url).create_bucket(Bucket="bench")
        rows: list[tuple[str, str, str]] = []
        for processes in (1, 4):
            local = append_throughput(work / f"local-{processes}", "parquet", processes, 500)
            remote = append_throughput(f"s3://bench/appends-{processes}", "parquet", processes, 500)  # type: ignore[arg-type]
            rows.append(
                (
                    f"durable appends, {processes} process(es), single records",
                    f"{local:,.0f} records/s",
                    f"{remote:,.0f} records/s",
                )
            )
        if os.environ.get("BENCH_APPENDS_ONLY"):
            _print(rows, server.url)
            return
        fill(str(work / "report-local"))
        fill("s3://bench/report")
        env = dict(os.environ)
        local_s = report_seconds(str(work / "report-local"), env)
        cold_s = report_seconds("s3://bench/report", env, fresh_cache=work / "cold")
        warm_s = report_seconds("s3://bench/report", env)
        label = f"`runbench report` over {MILLION:,} rows, whole command"
        rows.append((label, f"{local_s:.2f} s", f"{cold_s:.2f} s cold cache, {warm_s:.2f} s warm"))
        local_first, local_later = claim_seconds(str(work / "report-local"))
        os.environ["RUNBENCH_CACHE"] = str(work / "claims-cache")  # a machine that never read it
        remote_first, remote_later = claim_seconds("s3://bench/report")
        rows.append(
            (
                f"claim + release of 64 tests on {MILLION:,} stored rows: first / later (median)",
                f"{local_first:.2f} s / {local_later * 1000:.0f} ms",
                f"{remote_first:.2f} s / {remote_later * 1000:.0f} ms",
            )
        )
        _print(rows, server.url)
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def _print(rows: list[tuple[str, str, str]], url: str) -> None:
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
          f"`.venv/bin/python bench/object_store_bench.py` (moto {url}).\n")  # fmt: skip
    print("| measure | local Parquet store | s3:// (moto on 127.0.0.1) |")
    print("|---|---|---|")
    for name, local_text, remote_text in rows:
        print(f"| {name} | {local_text} | {remote_text} |")


if __name__ == "__main__":
    main()
