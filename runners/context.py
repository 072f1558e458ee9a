"""One run's context: its configuration, workload, store and client factory, built once.

The CLI reads runbench.toml once, loads the task library and tool registry once, opens the store
once and hands the four together to ``runners.session``; nothing below reads the configuration
again, so a run cannot see two versions of it, and a model name is resolved against one table.
A shard of ultra-parallel is its own process and builds its context once from its request.

The client factory is the seam for the model client: a run calls it for each endpoint, and a
test passes a factory that returns a scripted client, so the test drives the same session,
engine, limiter and retry path a user's run goes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runbench.clients.factory import ClientFactory, make_client
from runbench.config import RunbenchConfig, load_config
from runbench.storage import Store
from runbench.workload.suite import Workload, load_workload


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every run of one command shares: read once, passed down, never re-read."""

    config: RunbenchConfig
    workload: Workload  # the task library and the one tool registry the run uses
    store: Store
    clients: ClientFactory = make_client


def build_context(
    config: RunbenchConfig,
    store: Store,
    *,
    tasks_path: Path | None = None,
    tools_path: Path | None = None,
    clients: ClientFactory = make_client,
) -> RunContext:
    """Load the workload (``--tools-file`` over the config's ``tools``) and bind it all together.

    Raises:
        UsageError: the task library or tool registry cannot be read or does not fit.
    """
    workload = load_workload(tasks_path, tools_path or config.tools)
    return RunContext(config, workload, store, clients)


def context_of_request(
    config_path: Path | None,
    store: Store,
    *,
    tasks_path: Path | None = None,
    tools_path: Path | None = None,
    clients: ClientFactory = make_client,
) -> RunContext:
    """The context a process that did not parse a command line builds, once, from a request.

    A shard of ultra-parallel gets the configuration file, task library and tool registry its
    parent resolved as paths in its request; it reads them here, the only read of its run.

    Raises:
        ConfigError: the configuration file is not valid (any more).
        UsageError: the task library or tool registry cannot be read or does not fit.
    """
    return build_context(
        load_config(config_path),
        store,
        tasks_path=tasks_path,
        tools_path=tools_path,
        clients=clients,
    )
