"""The result commands against stores of 10k, 100k and 1M rows: time and peak memory of each.

Stores hold synthetic records (``runbench.synthetic``): Parquet as 50 sealed parts, JSON as one
``records.jsonl``, with one run manifest per synthetic run so ``runs`` and the viewer's runs list
have something to list. Each command runs as its own process, as a user types it, so the figures
include startup; peak memory is the process's maximum resident set (GNU time). The viewer is
served by ``runbench view`` on a free loopback port: how long it takes to listen (it warms its
libraries first), its first full page (``/`` and the plot), then a poll (``/api/state`` and the
plot) after a batch of 64 new tests is appended, as during a live run; their CPU is the
server's. "read every row" is ``store.scan()`` alone, in a process of its own. CPU seconds
(user + system, every thread) are printed beside wall time because the machine is shared.

    python bench/commands_bench.py --rows 1000000,100000,10000 --dir DIR   # stores kept in DIR
    python bench/commands_bench.py --rows 1000000 --dir DIR --storage json \
        --commands "read every row,report,status,verify" --runs 3      # best of three
    python bench/commands_bench.py --rows 1000000 --dir DIR --storage parquet --commands view \
        --runs 3                                        # the viewer alone, best of three

It prints the table rows; bench/results/commands.md is written from them by hand, with the
machine's load beside them (the figures of a shared machine need that context).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PARTS = 50
RUNS = 40
GOALS = {
    ("compare", "parquet", 1_000_000): "≤ 3 s, ≤ 1 GiB",
    ("read every row", "json", 1_000_000): "≤ 6 s",
    ("view first page", "parquet", 1_000_000): "≤ 2 s",
    ("view poll", "parquet", 1_000_000): "≤ 1 s",
}


@dataclass(frozen=True, slots=True)
class Figure:
    command: str
    storage: str
    rows: int
    seconds: float
    peak_mib: float | None
    cpu_s: float | None = None


def build_store(root: Path, storage: str, rows: int) -> None:
    """``rows`` synthetic records: Parquet in ``PARTS`` parts, JSON in one file."""
    from runbench.records import records_to_table
    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    store = open_store(root, storage)
    per_part = -(-rows // PARTS)
    per_run = -(-rows // RUNS)
    written = 0
    while written < rows:
        size = min(per_part, rows - written)
        run = f"00000000-0000-4000-8000-{written // per_run:012d}"
        records = list(synthetic_records(size, seed=written, run_id=run, start_instance=written))
        store.append_table(records_to_table(records))
        written += size
    for index in range(-(-rows // per_run)):
        run = f"00000000-0000-4000-8000-{index:012d}"
        store.write_manifest(
            {
                "run_id": run,
                "started_at": "2026-11-01T00:00:00+00:00",
                "ended_at": "2026-11-01T01:00:00+00:00",
                "command_line": "runbench smart-batch --model sim-strong",
                "exit_code": 0,
            }
        )
    store.close()


_READ_ALL = (
    "import sys; from pathlib import Path; from runbench.storage import open_store; "
    "open_store(Path(sys.argv[1]), sys.argv[2]).scan()"
)


@dataclass(frozen=True, slots=True)
class Selection:
    """What to measure: stores, commands (None: all, the viewer too) and runs per figure."""

    storages: tuple[str, ...] = ("parquet", "json")
    commands: frozenset[str] | None = None
    runs: int | None = None  # None: two below 1M rows, one at 1M


def command_figure(
    root: Path, storage: str, rows: int, name: str, *args: str, runs: int | None = None
) -> Figure:
    """One command's wall time (startup included) and peak RSS; best time (and CPU) of ``runs``."""
    line = [sys.executable, "-m", "runbench", *args, "--store", str(root), "--storage", storage]
    if name == "read every row":
        line = [sys.executable, "-c", _READ_ALL, str(root), storage]
    best, peak, cpu = float("inf"), 0.0, float("inf")
    for _ in range(runs or (2 if rows < 1_000_000 else 1)):
        started = time.perf_counter()
        # GNU time reports the command's own peak RSS: a child forked straight from this
        # process would count this process's pages in its maximum resident set
        process = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M %U %S", *line],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, error_bytes = process.communicate()
        elapsed = time.perf_counter() - started
        error = error_bytes.decode()
        if process.returncode not in (0, 1):
            raise SystemExit(f"{name} failed: {error.strip()[-400:]}")
        kib, user, system = error.strip().splitlines()[-1].split()
        best, peak = min(best, elapsed), max(peak, int(kib) / 1024)
        cpu = min(cpu, float(user) + float(system))
    return Figure(name, storage, rows, best, peak, cpu)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=600) as reply:
        return bytes(reply.read())


def viewer_figures(root: Path, storage: str, rows: int) -> list[Figure]:
    """First full page (page + plot) and a poll after an append, from a served viewer."""
    from runbench.records import records_to_table
    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    port = _free_port()
    launched = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runbench",
            "view",
            "--store",
            str(root),
            "--storage",
            storage,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_listening(port)
        start, start_cpu = time.perf_counter() - launched, _cpu_s(server.pid)
        started, cpu_before = time.perf_counter(), _cpu_s(server.pid)
        _get(f"{base}/")
        _get(f"{base}/plot.svg")
        first, first_cpu = time.perf_counter() - started, _cpu_s(server.pid) - cpu_before
        store = open_store(root, storage)
        # new tests each time, also in a store kept from an earlier run (--dir), as a live run adds
        fresh = 10**9 + time.time_ns() % 10**9
        batch = list(synthetic_records(64, seed=fresh, start_instance=fresh))
        store.append_table(records_to_table(batch)) if storage == "parquet" else store.append(batch)
        store.close()
        started, cpu_before = time.perf_counter(), _cpu_s(server.pid)
        _get(f"{base}/api/state")
        _get(f"{base}/plot.svg")
        poll, poll_cpu = time.perf_counter() - started, _cpu_s(server.pid) - cpu_before
        peak = _rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return [
        Figure("view start (until listening)", storage, rows, start, None, start_cpu),
        Figure("view first page", storage, rows, first, peak, first_cpu),
        Figure("view poll", storage, rows, poll, None, poll_cpu),
    ]


def _wait_listening(port: int) -> None:
    for _ in range(1200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the viewer did not start")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float | None:
    """The server's peak resident set so far (VmHWM), read while it still runs."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(rows: int, work: Path, selection: Selection) -> list[Figure]:
    figures: list[Figure] = []
    for storage in selection.storages:
        root = work / f"{storage}-{rows}"
        if not root.exists():  # a --dir from an earlier run keeps its stores
            build_store(root, storage, rows)
        test_id = _some_test_id(root, storage)
        commands = {
            "read every row": (),
            "report": ("report",),
            "report --model": ("report", "--model", "sim-strong"),
            "status": ("status", "--model", "sim-strong", "--num-instances", "20"),
            "verify": ("verify",),
            "runs": ("runs",),
            "compare": ("compare", "sim-strong", "sim-weak"),
            "show": ("show", test_id[:12]),
        }
        for name, args in commands.items():
            if selection.commands is not None and name not in selection.commands:
                continue
            figures.append(command_figure(root, storage, rows, name, *args, runs=selection.runs))
            print(_line(figures[-1]), flush=True)
        if selection.commands is not None and "view" not in selection.commands:
            continue
        for figure in best_viewer_figures(root, storage, rows, selection.runs or 1):
            figures.append(figure)
            print(_line(figure), flush=True)
    return figures


def best_viewer_figures(root: Path, storage: str, rows: int, repeat: int) -> list[Figure]:
    """``viewer_figures`` ``repeat`` times, each figure the best (least wall time) of them."""
    runs = [viewer_figures(root, storage, rows) for _ in range(max(1, repeat))]
    return [min(same, key=lambda figure: figure.seconds) for same in zip(*runs, strict=True)]


def _some_test_id(root: Path, storage: str) -> str:
    from runbench.storage import open_store

    table = open_store(root, storage).scan(["test_id"], {"model": "sim-weak"})
    return str(table.column("test_id")[table.num_rows // 2])


def _line(figure: Figure) -> str:
    peak = f"{figure.peak_mib:,.0f} MiB" if figure.peak_mib is not None else "—"
    goal = GOALS.get((figure.command, figure.storage, figure.rows), "—")
    cpu = f"{figure.cpu_s:.2f} s" if figure.cpu_s is not None else "—"
    return (
        f"| {figure.command} | {figure.storage} | {figure.rows:,} | {figure.seconds:.2f} s "
        f"| {cpu} | {peak} | {goal} |"
    )


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000", help="comma list of store sizes")
    parser.add_argument("--dir", default=None, help="build (or reuse) the stores here, kept")
    parser.add_argument("--storage", "--storages", default="parquet,json", help="stores")
    parser.add_argument(
        "--commands", default=None, help='comma list of command names (e.g. "report,status,view")'
    )
    parser.add_argument(
        "--runs", "--repeat", type=int, default=None, help="runs per figure, best kept"
    )
    parser.add_argument("--viewer-only", action="store_true", help="the same as --commands view")
    arguments = parser.parse_args()
    sizes = [int(text) for text in arguments.rows.split(",")]
    commands = "view" if arguments.viewer_only else arguments.commands
    selection = Selection(
        tuple(arguments.storage.split(",")),
        frozenset(commands.split(",")) if commands else None,
        arguments.runs,
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {_load()}")
    print(
        "| command | store | rows | wall | CPU | peak RSS | goal |\n|---|---|---|---|---|---|---|"
    )
    if arguments.dir:
        for rows in sizes:
            measure(rows, Path(arguments.dir), selection)
    else:
        with tempfile.TemporaryDirectory(prefix="runbench-commands-") as work:
            for rows in sizes:
                measure(rows, Path(work), selection)
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {_load()} (end)")


if __name__ == "__main__":
    main()
