"""ultra-parallel --ray's one-line errors: a wrong address, no cluster, Ray not installed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Outcome
from tests.fakes.hostile_servers import closed_port


def test_a_wrong_address_and_a_missing_ray_are_one_line_each(
    invoke: Callable[..., Outcome], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = ("ultra-parallel", "--model", "sim-strong", "--num-instances", "1")
    where = ("--store", str(tmp_path / "store"))
    refused = invoke(*plan, "--ray", f"127.0.0.1:{closed_port()}", *where)
    assert refused.code == 2
    assert refused.error_lines[0].startswith("Error: no Ray cluster answers at 127.0.0.1:")
    bad = invoke(*plan, "--ray", "nowhere", *where)
    assert bad.code == 2 and "--ray takes host:port, auto or local" in bad.error_lines[0]
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as without the extra
    missing = invoke(*plan, "--ray", "local", *where)
    assert missing.code == 2
    assert missing.error_lines[0] == "Error: --ray needs Ray, an optional extra"
    assert "pip install 'runbench[ray]'" in missing.stderr
