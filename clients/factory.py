"""Building the client of one deployment from the configuration.

``ClientFactory`` is the one seam through which a run gets its model clients; ``make_client``
is the factory a user's run uses, and a test passes its own (a scripted client) in its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from runbench.chat import ModelClient
from runbench.clients.sim import SimClient
from runbench.config import DeploymentConfig, ModelConfig, api_key


class ClientFactory(Protocol):
    """Makes the client a run sends ``deployment`` of ``model``'s requests through."""

    def __call__(
        self, model: ModelConfig, deployment: DeploymentConfig, *, protocol: str
    ) -> ModelClient: ...


def make_client(
    model: ModelConfig,
    deployment: DeploymentConfig,
    *,
    protocol: str = "tags",
    environ: Mapping[str, str] | None = None,
) -> ModelClient:
    """The client for ``deployment`` of ``model``: simulated, OpenAI-compatible or Azure.

    Raises:
        ConfigError: the deployment's key variable is not set.
    """
    if deployment.kind == "sim":
        return SimClient(
            model.name,
            model.profile or "average",
            latency_ms=model.latency_ms,
            protocol=protocol,
            provider=deployment.provider,
            deployment=deployment.name,
        )
    from runbench.clients.openai_client import OpenAIChatClient

    return OpenAIChatClient(model, deployment, api_key(deployment, environ))
