"""Jobs of one plan writing one ``s3://`` store at once: ``--shard i/N`` jobs and ultra-parallel.

Each job runs the installed CLI with its own cache folder (as it would on its own machine; they
share only the bucket) on a simulated model with a little latency, so the jobs overlap. A sim
model never errs, so every planned test must end with exactly one row: a second row would be a
test run twice, a missing one a test lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from runbench.storage import open_store
from tests.objectstore.conftest import S3

MODEL = "team-sim"
INSTANCES = 6  # phase 5.1 plans five cells per instance: 30 tests


def _job(s3: S3, tmp_path: Path, name: str, command: str, *extra: str) -> subprocess.Popen[str]:
    config = tmp_path / "runbench.toml"
    config.write_text(f'[models.{MODEL}]\nprovider = "sim"\nprofile = "average"\nlatency_ms = 20\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNBENCH_"))}
    env.pop("STORAGE_FORMAT", None)
    env.update(s3.env())
    env["RUNBENCH_CACHE"] = str(tmp_path / f"cache-{name}")  # its own machine
    return subprocess.Popen(
        [sys.executable, "-m", "runbench", command, "--model", MODEL, "--phase", "5.1",
         "--num-instances", str(INSTANCES), "--config", str(config), "--store", s3.url,
         "--max-workers", "2", "--quiet", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_shard_jobs_and_ultra_parallel_share_one_s3_store(s3: S3, tmp_path: Path) -> None:
    jobs = [
        _job(s3, tmp_path, "shard-0", "smart-batch", "--shard", "0/2"),
        _job(s3, tmp_path, "shard-1", "smart-batch", "--shard", "1/2"),
        _job(s3, tmp_path, "ultra", "ultra-parallel", "--num-shards", "2"),
    ]
    finished = 0
    for job in jobs:
        out, err = job.communicate(timeout=300)
        assert job.returncode in (0, 1), err  # 1: some of its tests were another job's
        summary = json.loads(out)
        assert summary["errors"] == 0, out
        finished += int(summary["finished"])
    reader = open_store("", "parquet", remote=s3.settings(tmp_path / "cache-reader"))
    rows = reader.scan(["test_id", "attempt", "run_id"]).to_pylist()
    per_test = Counter(row["test_id"] for row in rows)
    assert len(per_test) == 5 * INSTANCES, "every planned test is stored"
    assert set(per_test.values()) == {1}, "no test was run twice"
    assert finished == len(rows), "the jobs split the plan between them"
    assert reader.claimed() == {}, "every job released its claims after uploading"
    assert len({row["run_id"] for row in rows}) >= 2, "the jobs overlapped"
