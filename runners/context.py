"""One run's context: configuration, workload, store, client factory, tool search; built once.

The CLI reads runbench.toml once, loads the task library, tool registry and WorkflowBench tool
index once, opens the store once and hands them together to ``runners.session``; nothing below
reads the configuration again, so a run cannot see two versions of it, and a model name is
resolved against one table. A shard of ultra-parallel is its own process and builds its
context once from its request.

The client factory is the seam for the model client: a run calls it for each endpoint, and a
test passes a factory that returns a scripted client, so the test drives the same session,
engine, limiter and retry path a user's run goes through. The embedder factory is the same seam
for the query embeddings of the index's search (``tool_search.py``): the run opens its search
from ``search`` (index and embeddings model) with it, once, inside its event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runbench.clients.factory import ClientFactory, make_client
from runbench.config import RunbenchConfig, load_config
from runbench.runners.retry import RetryPolicy
from runbench.runners.tool_search import (
    NO_INDEX,
    EmbedderFactory,
    RunSearch,
    SearchSetup,
    embedder_of,
    open_search,
)
from runbench.storage import Store
from runbench.workload.suite import Workload, load_workload
from runbench.workload.tool_index import load_tool_index


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every run of one command shares: read once, passed down, never re-read."""

    config: RunbenchConfig
    workload: Workload  # the task library and the one tool registry the run uses
    store: Store
    clients: ClientFactory = make_client
    search: SearchSetup = NO_INDEX  # WorkflowBench's tool index, if given, and embeddings
    embedders: EmbedderFactory = embedder_of
    # whether this process says why the index cannot serve (one shard of ultra-parallel does)
    warns: bool = True

    async def open_search(self, retry: RetryPolicy | None = None) -> RunSearch:
        """This run's tool search and phase-2 similarity over the workload's registry.

        Logs one warning line when the index cannot serve (``tool_search.py``), if ``warns``.

        Raises:
            ConfigError: no index, and the similarity's embeddings model is unusable.
            ProviderError: no index, and the similarity's embeddings request failed.
        """
        return await open_search(
            self.config, self.search, self.workload.tools, self.embedders, retry, warn=self.warns
        )


def build_context(
    config: RunbenchConfig,
    store: Store,
    *,
    tasks_path: Path | None = None,
    tools_path: Path | None = None,
    tool_index_path: Path | None = None,
    clients: ClientFactory = make_client,
    embedders: EmbedderFactory = embedder_of,
) -> RunContext:
    """Load the workload and the tool index, and bind it all together.

    ``--tools`` wins over the config's ``tools``, ``--tool-index`` over its ``tool_index``.

    Raises:
        UsageError: the task library, tool registry or tool index cannot be read or does not
            fit; a tool index pickle that names any code to run is refused, in one line.
    """
    workload = load_workload(tasks_path, tools_path or config.tools)
    index_path = tool_index_path or config.tool_index
    index = load_tool_index(index_path) if index_path is not None else None
    embeddings = config.resolve_model(config.embeddings) if config.embeddings else None
    return RunContext(config, workload, store, clients, SearchSetup(index, embeddings), embedders)


def context_of_request(
    config_path: Path | None,
    store: Store,
    *,
    tasks_path: Path | None = None,
    tools_path: Path | None = None,
    tool_index_path: Path | None = None,
    clients: ClientFactory = make_client,
) -> RunContext:
    """The context a process that did not parse a command line builds, once, from a request.

    A shard of ultra-parallel gets the configuration file, task library, tool registry and tool
    index its parent resolved as paths in its request; it reads them here, the only read of its
    run.

    Raises:
        ConfigError: the configuration file is not valid (any more).
        UsageError: the task library or tool registry cannot be read or does not fit.
    """
    return build_context(
        load_config(config_path),
        store,
        tasks_path=tasks_path,
        tools_path=tools_path,
        tool_index_path=tool_index_path,
        clients=clients,
    )
