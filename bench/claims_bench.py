"""Claims and plans that cost the same at any store size (issue 19, requirements 2 and 5).

Measures, on this machine:

(a) 1,500 sim tests (``smart-batch --model sim-… --prompt-types all --num-instances 100``) into
    stores of 0, 100k and 1M synthetic rows (``runbench.synthetic``), JSON (one file) and
    Parquet (50 parts); two sim models, each the best of two runs. The
    whole command (planning reads the store once) and the run alone (the summary's
    ``seconds``: claims, tests, appends), each model against itself into an empty store
    (sim models differ in speed by up to 1.4×); a first run of a third model beside the store
    reads it whole and writes the known-tests snapshot. Goal: ≤ 1.25 × empty.
(b) a 20,000-test run into a fresh store: tests per second in each tenth of the run, from the
    stored rows' ``recorded_at``. Goal: last tenth ≥ 0.8 × first.
(c) a 10.5-million-test plan with ``--max-runtime 8``: seconds from the command's start to its
    first stored record, and its peak memory. Goal: ≤ 5 s and ≤ 1 GiB.
(d) ``--summary-only``: a JSON store's summary.json brought up to date after 1,500 more rows
    (from the rows since its last position) against recomputing it from every row, in process.

Usage: ``python bench/claims_bench.py [--sizes 0,100000,1000000] [--work DIR]``; prints a
markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RUNBENCH = [sys.executable, "-m", "runbench"]
SMALL_PLAN = ("--prompt-types", "all", "--num-instances", "100")  # 15 cells × 100 = 1,500
MODELS = ("sim-strong", "sim-weak")
# the first run beside a store reads it whole (and writes the known-tests snapshot): a third
# model takes it, so each measured model is compared with itself (sim models differ in speed)
WARM_UP_MODEL = "sim-average"
# each measured model runs twice (other cells: other tool success rates), the best kept
REPEAT_RATES = ("0.61", "0.62")
PARTS = 50


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("STORAGE_FORMAT", "RUNBENCH_STORE")}


def build(root: Path, storage_format: str, rows: int) -> None:
    """A store of ``rows`` synthetic rows: JSON one file, Parquet in ``PARTS`` parts."""
    from runbench.records import records_to_table
    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    store = open_store(root, storage_format)
    if rows:
        block = -(-rows // PARTS)
        for index in range(0, rows, block):
            size = min(block, rows - index)
            records = list(synthetic_records(size, seed=index, start_instance=index * 10))
            store.append_table(records_to_table(records))
    if storage_format == "json":
        # what `runbench import`/`migrate` leave: summary.json and its state, up to date
        from runbench.analysis.summary import refresh_summary

        refresh_summary(store)
    store.close()


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(
    store: Path, storage_format: str, model: str, rate: str | None = None
) -> tuple[float, float, float]:
    """(whole command seconds, the run's own seconds, the command's CPU seconds), 1,500 tests.

    ``rate`` (a tool success rate) picks other cells, so one model can run 1,500 new tests again.
    """
    command = [*RUNBENCH, "smart-batch", "--model", model, *SMALL_PLAN, "--store", str(store)]
    if rate is not None:
        command += ["--tool-success-rate", rate]
    command += ["--storage", storage_format, "--json", "--quiet"]
    started, cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run(command, capture_output=True, text=True, env=_env(), check=False)
    took, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"run failed: {result.stderr}")
    summary = json.loads(result.stdout)
    assert summary["finished"] == summary["to_run"] > 1400, summary  # a few may be stored
    return took, float(summary["seconds"]), cpu


def rates_per_tenth(store: Path, storage_format: str) -> list[float]:
    from runbench.storage import open_store

    stamps = sorted(
        value.timestamp()
        for value in open_store(store, storage_format).scan(["recorded_at"]).column(0).to_pylist()
    )
    tenth = len(stamps) // 10
    rates = []
    for index in range(10):
        chunk = stamps[index * tenth : (index + 1) * tenth]
        rates.append(len(chunk) / max(1e-9, chunk[-1] - chunk[0]))
    return rates


def big_run(store: Path, storage_format: str) -> list[float]:
    command = [*RUNBENCH, "smart-batch", "--model", "sim-strong", "--prompt-types", "all"]
    command += ["--num-instances", "1334", "--store", str(store), "--storage", storage_format]
    subprocess.run([*command, "--quiet"], capture_output=True, env=_env(), check=True)
    return rates_per_tenth(store, storage_format)


def huge_plan(store: Path) -> tuple[float, float, int]:
    """(seconds to the first stored record, peak RSS in MiB, tests finished) of 10.5M tests."""
    command = [*RUNBENCH, "smart-batch", "--model", "sim-strong", "--prompt-types", "all"]
    command += ["--num-instances", "700000", "--store", str(store), "--max-runtime", "8"]
    command += ["--json", "--quiet"]
    records = store / "json" / "records.jsonl"
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=_env())
        first = float("nan")
        while process.poll() is None:
            if first != first and records.exists() and records.stat().st_size:
                first = time.perf_counter() - started
            time.sleep(0.01)
        # poll() reaped it; its peak memory is the largest child's (this is our only child)
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        out.seek(0)
        finished = int(json.loads(out.read())["finished"])
    return first, peak, finished


def summary_refresh(root: Path, size: int) -> tuple[float, float]:
    """(seconds to bring summary.json up to date after 1,500 more rows, seconds to recompute it
    from every row) in a JSON store of ``size`` rows, timed in this process."""
    from runbench.analysis.summary import refresh_summary
    from runbench.analysis.summary_state import STATE_FILE
    from runbench.records import records_to_table
    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    build(root, "json", size)  # its summary is up to date (see build)
    store = open_store(root, "json")
    try:
        more = synthetic_records(1500, seed=size + 7, start_instance=10 * size + 10**7)
        store.append_table(records_to_table(list(more)))
        started = time.perf_counter()
        refresh_summary(store)
        updated = time.perf_counter() - started
        (store.path / STATE_FILE).unlink()
        started = time.perf_counter()
        refresh_summary(store)
        full = time.perf_counter() - started
    finally:
        store.close()
    return updated, full


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,100000,1000000")
    parser.add_argument("--formats", default="parquet,json")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--summary-only", action="store_true", help="only (d), JSON stores")
    parser.add_argument("--huge-only", action="store_true", help="only (c), as JSON")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="claims-bench-"))
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.huge_only:
        print(json.dumps(huge_plan(work / "huge")))
        return
    if args.summary_only:
        for size in sizes:
            updated, full = summary_refresh(work / f"summary-{size}", size)
            print(
                f"| json: summary.json after 1,500 rows more beside {size:,} rows: updated from "
                f"the rows since / recomputed from every row | {updated:.2f} s / {full:.2f} s "
                f"| no whole-store read | (load {_load()})",
                flush=True,
            )
            shutil.rmtree(work / f"summary-{size}", ignore_errors=True)
        return
    lines = [
        f"Command: `python bench/claims_bench.py --sizes {args.sizes}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
        f" (shared with other jobs while measured; load average at start {_load()})",
        "",
        "| measurement | result | goal |",
        "|---|---|---|",
    ]
    for storage_format in args.formats.split(","):
        empty: dict[str, tuple[float, float, float]] = {}
        for size in sizes:
            store = work / f"{storage_format}-{size}"
            measured: dict[str, tuple[float, float, float]] = {}
            first = None
            if size:
                shutil.rmtree(store, ignore_errors=True)
                build(store, storage_format, size)
                # reads every row once and writes the snapshot; the models below start from it
                first = run_once(store, storage_format, WARM_UP_MODEL)[0]
            for model in MODELS:
                runs = []
                for rate in REPEAT_RATES:
                    if not size:  # each run into a store of its own: empty, as its baseline
                        shutil.rmtree(store, ignore_errors=True)
                        build(store, storage_format, 0)
                    runs.append(run_once(store, storage_format, model, rate))
                measured[model] = tuple(min(run[index] for run in runs) for index in range(3))
            empty = empty or measured
            label = f"{storage_format}: 1,500 sim tests beside {size:,} rows"
            if first is not None:
                label += f" (first run, {WARM_UP_MODEL}: {first:.2f} s)"
            shown = "; ".join(
                f"{model} {whole:.2f} s ({whole / empty[model][0]:.2f}×) / {alone:.2f} s "
                f"({alone / empty[model][1]:.2f}×) / {cpu:.2f} s ({cpu / empty[model][2]:.2f}×)"
                for model, (whole, alone, cpu) in measured.items()
            )
            lines.append(
                f"| {label}: whole command / the run alone / CPU of the command, each model "
                f"against itself into an empty store | {shown} | ≤ 1.25 × empty |"
            )
            print(lines[-1], f"(load {_load()})", flush=True)
            shutil.rmtree(store, ignore_errors=True)
        rates = big_run(work / f"{storage_format}-20k", storage_format)
        shown = ", ".join(f"{rate:,.0f}" for rate in rates)
        lines.append(
            f"| {storage_format}: 20,010-test run, tests/s per tenth | {shown} "
            f"(last/first {rates[-1] / rates[0]:.2f}) | last ≥ 0.8 × first |"
        )
        print(lines[-1], f"(load {_load()})", flush=True)
        shutil.rmtree(work / f"{storage_format}-20k", ignore_errors=True)
    # in a process of its own: RUSAGE_CHILDREN's peak is the largest of every child reaped, and
    # this process has reaped the runs beside a million JSON rows
    isolated = subprocess.run(
        [sys.executable, __file__, "--huge-only", "--work", str(work)],
        capture_output=True,
        text=True,
        check=True,
    )
    first, peak, finished = json.loads(isolated.stdout)
    lines.append(
        f"| 10.5M-test plan, `--max-runtime 8`: first record after / peak RSS / tests run | "
        f"{first:.2f} s / {peak:,.0f} MiB / {finished:,} | ≤ 5 s, ≤ 1,024 MiB |"
    )
    shutil.rmtree(work / "huge", ignore_errors=True)
    lines.append(f"\nLoad average at the end: {_load()}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
