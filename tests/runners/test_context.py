"""A run gets everything from its one context: scripted clients through its factory, no re-read.

The client factory is the seam a test injects a ``ScriptedClient`` through, so these runs take
the path a user's run takes (``run_request`` → engine → limited client → retry → client →
store, manifest and all). A failure the engine's task groups raise leaves ``run_request`` as a
returned outcome with runbench's error, never as an exception group.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from runbench.chat import ChatResponse, ModelClient
from runbench.config import DeploymentConfig, ModelConfig, load_config
from runbench.errors import StoreError
from runbench.matrix import build_matrix
from runbench.planspec import PlanInputs
from runbench.runners.context import RunContext, build_context
from runbench.runners.engine import RunOptions
from runbench.runners.session import RunRequest, build_request, prepare, run_request
from runbench.storage import open_store
from tests.fakes.scripted_client import ScriptedClient

CONFIG = (
    '[providers.lab]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
    'api_key_env = "LAB_KEY"\n'
    '[models.scripted]\nprovider = "lab"\naliases = ["SCR"]\n'
    'deployments = ["east"]\n'
)
REPLIES = [
    ChatResponse("<tool_call>file_reader</tool_call><tool_call>data_parser</tool_call>"),
    ChatResponse("TASK_COMPLETED"),
]


class Factory:
    """A client factory that hands out scripted clients and remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.clients: list[ScriptedClient] = []

    def __call__(
        self, model: ModelConfig, deployment: DeploymentConfig, *, protocol: str
    ) -> ModelClient:
        self.calls.append((model.name, deployment.name, protocol))
        client = ScriptedClient(list(REPLIES), deployment.provider, deployment.name)
        self.clients.append(client)
        return client


def _context(tmp_path: Path, factory: Factory) -> RunContext:
    path = tmp_path / "runbench.toml"
    path.write_text(CONFIG)
    return build_context(load_config(path), open_store(tmp_path / "store", "json"), clients=factory)


def _request(context: RunContext, instances: int = 4) -> RunRequest:
    inputs = PlanInputs(models="SCR", task_types="simple_task", num_instances=instances)
    options = RunOptions(max_workers=2, max_turns=3)
    request, _ = build_request(inputs, context.config, mode="smart", options=options)
    return request


def test_a_run_takes_its_clients_from_the_factory_and_never_rereads_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = Factory()
    context = _context(tmp_path, factory)
    request = _request(context)
    assert request.models == ("scripted",), "the alias was resolved once, at the request"
    assert prepare(request, context).fitted.workload is context.workload, "one workload"

    def no_second_read(_: object) -> None:
        raise AssertionError("the configuration was read again below the context")

    for module in ("runbench.config", "runbench.runners.context"):
        monkeypatch.setattr(f"{module}.load_config", no_second_read)
    outcome = run_request(request, context, preflight_check=False)

    assert outcome.failure is None and outcome.summary is not None
    assert factory.calls == [("scripted", "east", "tags")], "one client per endpoint"
    assert factory.clients[0].requests, "the scripted client answered the run's requests"
    rows = open_store(tmp_path / "store", "json").scan(["model", "deployment", "run_id"])
    planned = len(build_matrix(task_types="simple_task").prompt_types) * 4
    assert rows.num_rows == outcome.summary.finished == planned
    assert set(rows.column("model").to_pylist()) == {"scripted"}
    assert set(rows.column("run_id").to_pylist()) == {outcome.summary.run_id}
    manifest = context.store.manifest(outcome.summary.run_id)
    assert manifest is not None and manifest["outcome"] == "finished"


def test_a_raw_full_disk_inside_the_task_groups_is_one_store_error_and_the_run_ended(
    tmp_path: Path,
) -> None:
    factory = Factory()
    context = _context(tmp_path, factory)
    store = context.store
    real_append = store.append
    appended: list[int] = []

    def append(records: list[object]) -> None:
        if appended:  # the first append lands; the second meets a disk with no room
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(store.path))
        real_append(records)
        appended.append(len(records))

    store.append = append  # type: ignore[method-assign]
    outcome = run_request(_request(context, instances=20), context, preflight_check=False)

    assert isinstance(outcome.failure, StoreError)
    assert outcome.failure.message.endswith("the disk is full")
    assert "\n" not in outcome.failure.message
    assert outcome.exit_code == 2 and outcome.outcome == "failed"
    assert outcome.stored == appended[0]
    assert outcome.summary is not None
    manifest = store.manifest(outcome.summary.run_id)
    assert manifest is not None and manifest["ended_at"] is not None
    assert (manifest["outcome"], manifest["exit_code"]) == ("failed", 2)
    assert manifest["error"] == outcome.failure.message
