"""ultra-parallel --ray on a real local Ray cluster: every test once, whatever dies.

The clusters here are Ray's own (``ray.cluster_utils.Cluster``: a head and worker nodes, each a
real raylet with its own worker processes) on 127.0.0.2 — a loopback address, since Ray rewrites
127.0.0.1 to the host's outward one. The runs are the real command line in a subprocess, the
driver joining the cluster like a user's would; the faults are real: ``kill -9`` of actor
processes, a node removed without warning, the driver killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runbench.runners.ray_cluster import NodeVersions, differing_node
from runbench.storage import open_store

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

NODE_IP = "127.0.0.2"


def _node_args() -> dict[str, Any]:
    return {"num_cpus": 1, "node_ip_address": NODE_IP, "include_dashboard": False}


def _start(workers: int, home: Path) -> Cluster:
    """A cluster whose processes send nothing off this machine.

    Ray's dashboard asks cloud metadata services (169.254.169.254) which cloud it runs on,
    unless a cluster config names the provider: the nodes get a home folder holding one.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text("provider:\n  type: local\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        cluster = Cluster(initialize_head=True, head_node_args=_node_args())
        for _ in range(workers):
            cluster.add_node(**_node_args())
        cluster.wait_for_nodes()
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A head and one worker node, shared by the tests that do not take nodes away."""
    started = _start(1, tmp_path_factory.mktemp("ray-home"))
    yield started
    started.shutdown()


def _config(tmp_path: Path, latency_ms: int) -> Path:
    path = tmp_path / "runbench.toml"
    path.write_text(
        f'[models.slow-sim]\nprovider = "sim"\nprofile = "strong"\nlatency_ms = {latency_ms}\n'
    )
    return path


def _command(address: str, store: Path, config: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "runbench",
        "ultra-parallel",
        *("--model", "slow-sim", "--ray", address, "--config", str(config)),
        *("--task-types", "simple_task,basic_task", "--prompt-types", "optimal,baseline"),
        *("--store", str(store), "--storage", "parquet", "--max-workers", "8"),
        *extra,
    ]


def _rows(store: Path) -> list[dict[str, Any]]:
    if not (store / "parquet").exists():
        return []
    reader = open_store(store, "parquet", create=False)
    try:
        return reader.scan(["test_id", "status", "run_id"]).to_pylist()
    finally:
        reader.close()


def _judged_once(store: Path, planned: int) -> None:
    judged = [row["test_id"] for row in _rows(store) if row["status"] != "error"]
    assert len(judged) == len(set(judged)), "a test was judged twice"
    assert len(judged) == planned, (len(judged), planned)


def _actor_pids(parent_pid: int | None = None) -> list[int]:
    """Processes of runbench's Ray actors (all, or those under one raylet)."""
    found = subprocess.run(
        ["pgrep", "-f", "ShardActor", *(["-P", str(parent_pid)] if parent_pid else [])],
        capture_output=True,
        text=True,
    ).stdout.split()
    return [int(pid) for pid in found]


def _wait(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def test_a_plan_runs_on_both_nodes_each_test_once(cluster: Cluster, tmp_path: Path) -> None:
    store = tmp_path / "store"
    command = _command(cluster.address, store, _config(tmp_path, 10), "--num-instances", "10")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    _judged_once(store, 40)
    # the last progress line shows each actor and its node
    assert "shard actor 0 @ 127.0.0.2" in result.stderr and "shard actor 1 @" in result.stderr
    manifests = [json.loads(p.read_text()) for p in (store / "parquet").rglob("*.json")]
    nodes = [m["nodes"] for m in manifests if m.get("nodes")]
    assert len(nodes) == 1 and len(nodes[0]) == 2, "the manifest lists the two nodes"
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "nothing to run" in again.stdout


def test_with_no_actor_left_the_run_stops_with_exit_1_and_a_resume_line(
    cluster: Cluster, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    command = _command(cluster.address, store, _config(tmp_path, 60), "--num-instances", "40")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(lambda: len(_rows(store)) >= 4, process, "stored rows")
    for pid in _actor_pids():
        os.kill(pid, signal.SIGKILL)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert "no actor is left; stopping" in err
    assert "Resume with: runbench ultra-parallel" in err and "--ray" in err
    rows = _rows(store)
    judged = [row["test_id"] for row in rows if row["status"] != "error"]
    assert len(judged) == len(set(judged)) and 4 <= len(judged) < 160


def test_a_killed_driver_stops_its_actors_and_its_rerun_finishes_the_plan(
    cluster: Cluster, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    command = _command(cluster.address, store, _config(tmp_path, 40), "--num-instances", "30")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(lambda: len(_rows(store)) >= 4, process, "stored rows")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while _actor_pids() and time.monotonic() < deadline:  # Ray reaps a dead driver's actors
        time.sleep(0.2)
    assert not _actor_pids(), "the actors of a dead driver still run"
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    _judged_once(store, 120)


def test_a_killed_actor_and_a_lost_node_cost_only_what_was_in_flight(tmp_path: Path) -> None:
    """Three nodes, four actors: one actor killed, then a whole node removed, mid-run."""
    cluster = _start(2, tmp_path / "home")
    try:
        head, first, second = cluster.head_node, *cluster.worker_nodes
        store = tmp_path / "store"
        config = _config(tmp_path, 40)
        command = _command(
            cluster.address, store, config, "--num-instances", "60", "--num-shards", "4"
        )
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        raylet = {node: node.all_processes["raylet"][0].process.pid for node in (first, second)}
        _wait(lambda: len(_rows(store)) >= 10, process, "stored rows")
        victims = _actor_pids(raylet[first])
        assert victims, "an actor runs on the first worker node"
        os.kill(victims[0], signal.SIGKILL)
        _wait(lambda: len(_rows(store)) >= 40, process, "more rows after the kill")
        going = len(_actor_pids(raylet[second]))
        assert going, "an actor runs on the node about to go"
        cluster.remove_node(second, allow_graceful=False)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert err.count(" lost (") == 1 + going, err  # the killed actor, those of the node
        summary = json.loads(out) if out.strip().startswith("{") else None
        assert summary is None or summary["late_copies"] == 0
        _judged_once(store, 240)
        del head
    finally:
        cluster.shutdown()


def test_a_node_with_other_versions_is_named() -> None:
    driver = NodeVersions("driver", "0.2.0", "3.11.7")
    same = NodeVersions("10.0.0.5 (ab12cd34)", "0.2.0", "3.11.7")
    other = NodeVersions("10.0.0.6 (ef56ab78)", "0.1.0", "3.12.1")
    assert differing_node(driver, [same]) is None
    assert differing_node(driver, [same, other]) == (
        "Ray node 10.0.0.6 (ef56ab78) runs runbench 0.1.0 on Python 3.12.1; "
        "the driver runs runbench 0.2.0 on Python 3.11.7"
    )
