"""An OpenAI-compatible ``/v1/embeddings`` client behind the ``Embedder`` interface.

WorkflowBench matches a required tool with a similar called tool by embeddings
(``text-embedding-3-large``); runbench does the same when runbench.toml says
``embeddings = "<model>"`` (docs/SCORING.md). The model's first deployment is called through the
``openai`` SDK with its retries off, and every SDK exception becomes a ``ProviderError`` in
``openai_client.translate_error``, the one place that knows SDK types. Tools are embedded once
per run (``ToolSimilarity.from_embedder``), so this is one request per run, not per test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from runbench.clients.openai_client import translate_error
from runbench.config import DeploymentConfig, ModelConfig, RunbenchConfig, api_key
from runbench.errors import ConfigError, RetryableProviderError
from runbench.workload.similarity import ToolSimilarity
from runbench.workload.tools import Tool

if TYPE_CHECKING:
    import openai


class OpenAIEmbedder:
    """Embeddings from one deployment of an OpenAI-compatible or Azure endpoint."""

    def __init__(self, model: ModelConfig, deployment: DeploymentConfig, key: str) -> None:
        import httpx2
        import openai

        self.name = f"embeddings:{model.name}"
        self.provider = deployment.provider
        self.deployment = deployment.name
        self._key = key
        timeout = httpx2.Timeout(deployment.request_timeout_s, connect=deployment.connect_timeout_s)
        http = httpx2.AsyncClient(timeout=timeout)
        self._sdk: openai.AsyncOpenAI
        if deployment.kind == "azure":
            self._sdk = openai.AsyncAzureOpenAI(
                azure_endpoint=deployment.endpoint or "",
                api_version=deployment.api_version,
                api_key=key,
                max_retries=0,
                timeout=timeout,
                http_client=http,
            )
        else:
            self._sdk = openai.AsyncOpenAI(
                base_url=deployment.base_url,
                api_key=key,
                max_retries=0,
                timeout=timeout,
                http_client=http,
            )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in the order given.

        Raises:
            ProviderError: a subclass saying whether and when to retry; the key is never in it.
        """
        import openai

        try:
            response = await self._sdk.embeddings.create(model=self.deployment, input=list(texts))
        except (openai.OpenAIError, ValueError) as error:  # ValueError: a body that is not JSON
            raise translate_error(error, self.provider, self.deployment, self._key) from None
        ordered = sorted(response.data, key=lambda item: item.index)
        if len(ordered) != len(texts):
            raise RetryableProviderError(
                f"{self.provider}/{self.deployment}: {len(ordered)} embeddings for "
                f"{len(texts)} texts",
                provider=self.provider,
                deployment=self.deployment,
            )
        return [list(item.embedding) for item in ordered]

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._sdk.close()


def make_embedder(
    config: RunbenchConfig, environ: Mapping[str, str] | None = None
) -> OpenAIEmbedder | None:
    """The embedder runbench.toml names with ``embeddings = "<model>"``, or None.

    Raises:
        ConfigError: the model is simulated (no embeddings endpoint) or its key is not set.
    """
    if config.embeddings is None:
        return None
    model = config.resolve_model(config.embeddings)
    deployment = model.deployments[0]
    if deployment.kind == "sim":
        raise ConfigError(
            f"embeddings model '{model.name}' is simulated and has no embeddings endpoint",
            hint='name an OpenAI-compatible model in embeddings = "<model>", or remove the line',
        )
    return OpenAIEmbedder(model, deployment, api_key(deployment, environ))


async def tool_similarity(
    config: RunbenchConfig, tools: Mapping[str, Tool], environ: Mapping[str, str] | None = None
) -> ToolSimilarity:
    """The run's tool similarity: from the configured embeddings model, else the fallback.

    Call once per run and pass the result to every ``run_test`` (``similarity=``); records then
    say ``embeddings:<model>`` or ``fallback:trigram`` in ``similarity_source``.

    Raises:
        ConfigError: the embeddings model is simulated or its key is not set.
        ProviderError: the embeddings request failed.
    """
    embedder = make_embedder(config, environ)
    if embedder is None:
        return ToolSimilarity.fallback(tools)
    try:
        return await ToolSimilarity.from_embedder(embedder, tools)
    finally:
        await embedder.aclose()
