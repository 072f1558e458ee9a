"""A hung object store beside a live one: request times, and how soon a run stops (issue: hung).

Starts moto's S3 server on 127.0.0.1 at a free port and measures:

* the time of the bucket requests a run makes (``storage/bucket.py``): create of a 20,000-row
  part (the default upload, about 1 MB), get and replace of a claim book: median and worst of
  ``REQUESTS`` each, through the bounded request path, beside the bound (``RUNBENCH_S3_TIMEOUT``);
* a ``smart-batch`` run (slow sim model, a row uploaded per append) whose moto server is
  SIGSTOPped mid-run, then (a) left to its ``--max-runtime`` about 3 s later, (b) sent SIGTERM
  3 s later: the time from SIGSTOP and from the stop to exit, the exit code and the ``Error:``
  line, with the default bound;
* ``status`` and ``report`` on the stopped store: time to exit and the ``Error:`` line.

Run: `.venv/bin/python bench/hung_store_bench.py` (prints a Markdown section for
bench/results/hung_store.md).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run_all import machine  # noqa: E402

from tests.fakes.s3_server import MotoServer, start_moto  # noqa: E402

REQUESTS = 30
STOP_AFTER_S = 6.0
STOP_LATER_S = 3.0  # from the SIGSTOP to the SIGTERM, or to --max-runtime (about: it counts
# from the command's start, a little after the Popen)


def _env(server: MotoServer, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNBENCH_"))}
    env.pop("STORAGE_FORMAT", None)
    env.update(
        AWS_ENDPOINT_URL=server.url,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
        RUNBENCH_CACHE=str(cache),
    )
    return env


def _bucket(server: MotoServer) -> str:
    import boto3

    name = f"rb-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return name


def request_times(server: MotoServer, work: Path) -> list[str]:
    """Median and worst of each request kind, through ``Bucket`` as a run makes them."""
    from runbench.config import object_store_settings
    from runbench.storage import open_store
    from runbench.storage.bucket import Bucket
    from runbench.synthetic import synthetic_records

    local = open_store(work / "part", "parquet")
    local.append(list(synthetic_records(20_000)))
    local.close()
    part = next((work / "part" / "parquet" / "parts").glob("part-*.parquet")).read_bytes()
    book = b'{"leases": {}, "revoked": []}' + b" " * 4000  # a book of some dozens of claims
    env = _env(server, work / "cache")
    settings = object_store_settings(f"s3://{_bucket(server)}/bench", "bench", env)
    bucket = Bucket(settings)
    bucket.check_bucket()
    times: dict[str, list[float]] = {"create part": [], "get book": [], "replace book": []}
    etag = bucket.create("book.json", book)
    assert etag is not None
    for index in range(REQUESTS):
        began = time.perf_counter()
        bucket.create(f"parts/part-{index}.parquet", part)
        times["create part"].append(time.perf_counter() - began)
        began = time.perf_counter()
        found = bucket.get("book.json")
        times["get book"].append(time.perf_counter() - began)
        assert found is not None
        began = time.perf_counter()
        etag = bucket.replace("book.json", book, found[1])
        times["replace book"].append(time.perf_counter() - began)
    rows = [
        f"| {kind} ({len(part) if kind == 'create part' else len(book):,} bytes) | "
        f"{statistics.median(values) * 1000:.0f} ms | {max(values) * 1000:.0f} ms | "
        f"{settings.request_timeout_s:.0f} s (+1 s per MiB of body) |"
        for kind, values in times.items()
    ]
    return rows


def stopped_run(server: MotoServer, work: Path, how: str) -> str:
    """A run whose store is SIGSTOPped mid-run: seconds from SIGSTOP to exit, code, Error line."""
    config = work / "runbench.toml"
    config.write_text(
        '[models.slow-sim]\nprovider = "sim"\nprofile = "average"\nlatency_ms = 100\n'
    )
    env = {**_env(server, work / f"cache-{how}"), "RUNBENCH_UPLOAD_ROWS": "1"}
    args = [sys.executable, "-m", "runbench", "smart-batch", "--model", "slow-sim",
            "--num-instances", "20", "--config", str(config), "--store",
            f"s3://{_bucket(server)}/team", "--max-workers", "2", "--quiet"]  # fmt: skip
    if how == "max-runtime":
        args += ["--max-runtime", str(STOP_AFTER_S + STOP_LATER_S)]
    run = subprocess.Popen(
        args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(STOP_AFTER_S)
    os.kill(server.process.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        if how == "SIGTERM":
            time.sleep(STOP_LATER_S)
            run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=600)
        took = time.monotonic() - stopped
        what = f"smart-batch, store stopped mid-run, {how} {STOP_LATER_S:.0f} s later"
        return _row(what, took, run.returncode, err, after_stop=took - STOP_LATER_S)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def stopped_read(server: MotoServer, work: Path, command: str) -> str:
    env = _env(server, work / "cache-read")
    url = f"s3://{_bucket(server)}/team"
    subprocess.run(
        [sys.executable, "-m", "runbench", "smart-batch", "--model", "sim-strong",
         "--num-instances", "2", "--store", url, "--quiet"],
        cwd=work, env=env, capture_output=True, check=True,
    )  # fmt: skip
    os.kill(server.process.pid, signal.SIGSTOP)
    began = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runbench", command, "--model", "sim-strong",
             "--num-instances", "2", "--store", url],
            cwd=work, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        took = time.monotonic() - began
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    return _row(f"`{command}` on the stopped store", took, done.returncode, done.stderr)


def _row(what: str, took: float, code: int, stderr: str, after_stop: float | None = None) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    shown = errors[0] if len(errors) == 1 else f"{len(errors)} Error lines"
    trace = " (traceback!)" if "Traceback" in stderr else ""
    stop = "—" if after_stop is None else f"{after_stop:.1f} s"
    return f"| {what} | {took:.1f} s | {stop} | {code} | `{shown}`{trace} |"


def main() -> None:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    server = start_moto()
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            requests = request_times(server, work)
            runs = [stopped_run(server, work, how) for how in ("max-runtime", "SIGTERM")]
            reads = [stopped_read(server, work, command) for command in ("status", "report")]
    finally:
        server.close()
    print("## A hung object store (`bench/hung_store_bench.py`)\n")
    print("Command: `.venv/bin/python bench/hung_store_bench.py`  ")
    print(f"Date: {started}  ")
    print(f"Machine: {machine()}\n")
    print("| request (moto on loopback) | median | worst | bound |")
    print("|---|---|---|---|")
    print("\n".join(requests))
    print("\nDefault bound (`RUNBENCH_S3_TIMEOUT` 30 s, 3 attempts); the store SIGSTOPped:\n")
    print("| what | SIGSTOP to exit | stop to exit | exit | stderr |")
    print("|---|---|---|---|---|")
    print("\n".join(runs + reads))


if __name__ == "__main__":
    main()
