"""All benchmarks; run with `make bench`, results in bench/RESULTS.md.

``python bench/run_all.py --reinclude`` only re-assembles RESULTS.md from the sections in
bench/results/ (after a bench run on its own), keeping the tables measured here.

Storage (this file), runners (runners_bench.py) and the engine against a hostile server
(engine_bench.py: rate limits, the random fault mix, slow and fast endpoints).

Measures, per store: durable single-record append throughput with 1 and with 8 writer
processes; scan + group-by over 1,000,000 records; the remaining-tests computation for 1M planned
against 1M stored; migrate of 1M records (rate and peak RSS); bytes on disk per 1M records.
Every figure is measured in this run; targets come from the issue and are printed beside them.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REPO = HERE.parent
WRITER = REPO / "tests" / "storage" / "writer.py"
MILLION = int(os.environ.get("BENCH_ROWS", "1000000"))


def append_throughput(
    root: Path,
    storage_format: str,
    processes: int,
    appends_each: int,
    *,
    threads: int = 1,
    batch: int = 1,
) -> float:
    """Records/s of durable appends, from a common start, excluding process startup."""
    start_at = time.time() + 4.0
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WRITER),
                "--store",
                str(root),
                "--format",
                storage_format,
                "--threads",
                str(threads),
                "--count",
                str(appends_each),
                "--max-batch",
                str(batch),
                "--seed",
                str(seed),
                "--start-at",
                str(start_at),
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(processes)
    ]
    finished = []
    for writer in writers:
        out, _ = writer.communicate()
        finished.append(float(out.split()[-1]))  # "appends-done <time>", before the final seal
    elapsed = max(finished) - start_at
    return processes * threads * appends_each / elapsed


def build_million(root: Path) -> None:
    """A JSON store and a compacted Parquet store holding the same 1M records."""
    from runbench.records import records_to_table
    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    json_store = open_store(root, "json")
    block = 100_000
    for index in range(0, MILLION, block):
        size = min(block, MILLION - index)
        table = records_to_table(
            list(synthetic_records(size, seed=index, start_instance=index * 10))
        )
        json_store.append_table(table)
    json_store.close()


def timed(action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def group_by_seconds(root: Path, storage_format: str) -> float:
    from runbench.storage import open_store

    def run() -> int:
        table = open_store(root, storage_format).scan(["model", "prompt_type", "status"])
        grouped = table.group_by(["model", "prompt_type"]).aggregate([("status", "count")])
        return grouped.num_rows

    return min(timed(run)[0] for _ in range(2))


def remaining_seconds(root: Path) -> tuple[float, float, int]:
    """(seconds to read done ids, seconds to plan 1M and subtract, remaining count)."""
    from runbench.plan import Cell, plan_tests, remaining_tests
    from runbench.records import DIFFICULTIES, PROMPT_TYPES, TASK_TYPES
    from runbench.storage import open_store

    read_s, done = timed(lambda: open_store(root, "parquet").done_ids())
    cells = [
        Cell("workflow", "1", model, prompt, difficulty, task, rate)
        for model in ("sim-average", "sim-strong", "sim-weak")
        for prompt in PROMPT_TYPES
        for difficulty in DIFFICULTIES
        for task in TASK_TYPES
        for rate in (0.6, 0.7, 0.8, 0.9)
    ]
    instances = MILLION // len(cells)
    plan_s, remaining = timed(lambda: remaining_tests(plan_tests(cells, instances), done))
    return read_s, plan_s, len(remaining)


def migrate_run(root: Path) -> tuple[float, float]:
    """(records/s, peak RSS MiB) of `runbench migrate` json -> parquet, in its own process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "runbench", "migrate", "--store", str(root)],
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"migrate failed with status {status}")
    return MILLION / elapsed, usage.ru_maxrss / 1024


def report_seconds(root: Path, storage_format: str, *extra: str) -> float:
    """Wall time of the whole `runbench report` command (startup included), best of three."""
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "runbench",
                "report",
                "--store",
                str(root),
                "--storage",
                storage_format,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        runs.append(time.perf_counter() - started)
    return min(runs)


def compact_parquet(root: Path) -> float:
    from runbench.storage import open_store

    return timed(lambda: open_store(root, "parquet").compact())[0]


def size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


# each writes bench/results/<name>.md, which RESULTS.md includes as a section of its own
SECTION_BENCHES = ("ray_bench.py",)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.platform()}, Python {platform.python_version()}"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {system}; load average {load} at the end"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="runbench-bench-", dir=os.environ.get("BENCH_DIR")))
    rows: list[tuple[str, str, str]] = []
    try:
        for storage_format in ("json", "parquet"):
            one = append_throughput(work / f"a1-{storage_format}", storage_format, 1, 4000)
            eight = append_throughput(work / f"a8-{storage_format}", storage_format, 8, 1500)
            threaded = append_throughput(
                work / f"a8t-{storage_format}", storage_format, 8, 500, threads=4
            )
            batched = append_throughput(
                work / f"a8b-{storage_format}", storage_format, 8, 6000, batch=8
            )
            name = f"{storage_format}: durable appends,"
            rows.append((f"{name} 1 process, single records", f"{one:,.0f} records/s", "—"))
            rows.append(
                (
                    f"{name} 8 processes, single records",
                    f"{eight:,.0f} records/s",
                    "≥ 10,000 records/s",
                )
            )
            rows.append(
                (
                    f"{name} 8 processes × 4 threads, single records",
                    f"{threaded:,.0f} records/s",
                    "—",
                )
            )
            rows.append(
                (f"{name} 8 processes, batches of 1–8 records", f"{batched:,.0f} records/s", "—")
            )
            print(*rows[-4:], sep="\n", flush=True)
        data = work / "million"
        build_s, _ = timed(lambda: build_million(data))
        os.sync()  # the data set's own writeback must not run during the timed steps
        print(f"built {MILLION} records in {build_s:.0f} s", flush=True)
        migrate_rate, migrate_rss = migrate_run(data)
        rows.append(
            (
                "migrate json → parquet, 1M records",
                f"{migrate_rate:,.0f} records/s",
                "≥ 100,000 records/s",
            )
        )
        rows.append(("migrate peak RSS", f"{migrate_rss:,.0f} MiB", "≤ 1,024 MiB"))
        compact_s = compact_parquet(data)
        rows.append(("compact the migrated Parquet store", f"{compact_s:.1f} s", "—"))
        for storage_format, target in (("parquet", "≤ 2 s"), ("json", "≤ 10 s")):
            seconds = group_by_seconds(data, storage_format)
            rows.append(
                (
                    f"{storage_format}: scan + group-by model × prompt_type, 1M",
                    f"{seconds:.2f} s",
                    target,
                )
            )
        report_s = report_seconds(data, "parquet")
        rows.append(
            ("`runbench report` over 1M (parquet), whole command", f"{report_s:.2f} s", "≤ 2 s")
        )
        legacy_s = report_seconds(data, "parquet", "--format", "legacy-json")
        rows.append(
            ("`runbench report --format legacy-json` over 1M (parquet)", f"{legacy_s:.2f} s", "—")
        )
        read_s, plan_s, remaining = remaining_seconds(data)
        rows.append(("done ids of 1M stored (parquet)", f"{read_s:.2f} s", "—"))
        rows.append(
            (
                f"plan 1M tests and subtract done ({remaining:,} remain)",
                f"{plan_s:.2f} s",
                "a few seconds",
            )
        )
        json_mib = size_mib(data / "json")
        parquet_mib = size_mib(data / "parquet")
        rows.append(("bytes on disk per 1M: JSONL", f"{json_mib:,.0f} MiB", "—"))
        rows.append(
            (
                "bytes on disk per 1M: Parquet",
                f"{parquet_mib:,.0f} MiB ({parquet_mib / json_mib:.1%} of JSONL)",
                "≤ 25 % of JSONL",
            )
        )
        from engine_bench import run_all as engine_rows
        from runners_bench import run_all as runner_rows

        runners = runner_rows()
        engine = engine_rows()
        # bench (b): the HTTP path against a bare aiohttp loop, in its own process
        subprocess.run([sys.executable, str(HERE / "http_client_bench.py")], check=True)
        # benches that write their own section into bench/results/
        for script in SECTION_BENCHES:
            subprocess.run([sys.executable, str(HERE / script), "--write"], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results(rows, runners, engine)


def engine_section(engine: list[tuple[str, str, str]]) -> list[str]:
    from engine_bench import section

    return section(engine)


def write_results(
    rows: list[tuple[str, str, str]],
    runners: list[tuple[str, str, str]],
    engine: list[tuple[str, str, str]],
) -> None:
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Benchmark results",
        "",
        "Command: `make bench` (runs `bench/run_all.py`)  ",
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Machine: {machine()}  ",
        f"Peak RSS of this benchmark process: {peak_rss_mib:,.0f} MiB",
        "",
        "Every append is durable (fsynced) before it returns; a runner stores one record per",
        "finished test. Writer startup is excluded (all writers start together).",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        *(f"| {name} | {value} | {target} |" for name, value, target in rows),
        "",
        "## Runners (`bench/runners_bench.py`)",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        *(f"| {name} | {value} | {target} |" for name, value, target in runners),
        "",
        *engine_section(engine),
    ]
    lines += included_sections()
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


def included_sections() -> list[str]:
    """The sections other benches write (bench/results/*.md), the HTTP bench's, and NOTES.md."""
    lines: list[str] = []
    for section in sorted((HERE / "results").glob("*.md")):
        lines += ["", section.read_text()]
    http = HERE / "HTTP_RESULTS.md"
    if http.exists():
        lines += ["", "#" + http.read_text()]  # its heading one level down
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    return lines


def reinclude() -> None:
    """Rewrite RESULTS.md's included sections from their files, keeping make bench's own tables.

    A bench run on its own (or a merge) updates its file in bench/results/; this brings
    RESULTS.md up to date without re-measuring the tables at its top.
    """
    path = HERE / "RESULTS.md"
    text = path.read_text()
    first = sorted((HERE / "results").glob("*.md"))[0].read_text().splitlines()[0]
    own = text[: text.index("\n" + first)] if ("\n" + first) in text else text.rstrip("\n")
    path.write_text("\n".join([own.rstrip("\n"), *included_sections()]))


if __name__ == "__main__":
    if sys.argv[1:] == ["--reinclude"]:
        reinclude()
    else:
        main()
