"""Where runbench reads its environment: the only module that looks at ``os.environ``.

Keeping every environment read here means a test can pass an explicit mapping instead of
patching the process environment, and a reader can see every variable runbench honours in
one screen.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from runbench.errors import ConfigError, UsageError

StorageFormat = Literal["json", "parquet"]
STORAGE_FORMATS: tuple[str, ...] = get_args(StorageFormat)
DEFAULT_STORE_ROOT = Path("runbench_results")

ENV_STORAGE_FORMAT = "STORAGE_FORMAT"
ENV_STORE = "RUNBENCH_STORE"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Which store a command opens: its format and its root folder."""

    format: StorageFormat
    root: Path


def parse_storage_format(value: str, *, source: str) -> StorageFormat:
    """Turn a user-typed format name into a ``StorageFormat``.

    Raises:
        UsageError: the value is not one of ``json``, ``parquet``; the message lists them.
    """
    normalized = value.strip().lower()
    if normalized not in STORAGE_FORMATS:
        allowed = ", ".join(STORAGE_FORMATS)
        raise UsageError(
            f"unknown storage format '{value}' from {source}; allowed: {allowed}",
            hint=f"use --storage {STORAGE_FORMATS[0]} or set STORAGE_FORMAT to one of {allowed}",
        )
    return normalized  # type: ignore[return-value]


def resolve_store_location(
    storage: str | None,
    store: Path | None,
    environ: Mapping[str, str] | None = None,
) -> StoreLocation:
    """Pick the store: ``--storage`` > ``STORAGE_FORMAT`` > json; ``--store`` > ``RUNBENCH_STORE``.

    Raises:
        UsageError: the format named by the flag or the variable is unknown.
    """
    env = os.environ if environ is None else environ
    if storage is not None:
        fmt = parse_storage_format(storage, source="--storage")
    elif env.get(ENV_STORAGE_FORMAT):
        fmt = parse_storage_format(env[ENV_STORAGE_FORMAT], source=ENV_STORAGE_FORMAT)
    else:
        fmt = "json"
    if store is not None:
        root = store
    elif env.get(ENV_STORE):
        root = Path(env[ENV_STORE])
    else:
        root = DEFAULT_STORE_ROOT
    return StoreLocation(format=fmt, root=root)


# ---------------------------------------------------------------------------------------------
# runbench.toml: providers, models, deployments (DESIGN.md §7)

ENV_CONFIG = "RUNBENCH_CONFIG"
DEFAULT_CONFIG_FILE = Path("runbench.toml")
ProviderKind = Literal["sim", "openai", "azure"]
PROVIDER_KINDS: tuple[str, ...] = get_args(ProviderKind)
_KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{12,}|[A-Fa-f0-9]{32,})")
_PROVIDER_FIELDS = {
    "kind",
    "base_url",
    "endpoint",
    "api_key_env",
    "api_version",
    "max_concurrency",
    "rpm",
    "tpm",
    "request_timeout_s",
    "connect_timeout_s",
}
_MODEL_FIELDS = {
    "price_prompt_per_mtok",
    "price_completion_per_mtok",
    "provider",
    "deployments",
    "aliases",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "profile",
    "latency_ms",
}
_DEPLOYMENT_FIELDS = {
    "name",
    "base_url",
    "endpoint",
    "api_key_env",
    "max_concurrency",
    "rpm",
    "tpm",
}


@dataclass(frozen=True, slots=True)
class EndpointLimits:
    """Budget of one endpoint (provider × deployment); None means not limited by us."""

    max_concurrency: int = 16
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    kind: ProviderKind
    base_url: str | None = None
    endpoint: str | None = None
    api_key_env: str | None = None
    api_version: str | None = None
    limits: EndpointLimits = EndpointLimits()
    request_timeout_s: float = 120.0
    connect_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class DeploymentConfig:
    """One endpoint alias of a model, with its provider's settings filled in."""

    name: str
    provider: str
    kind: ProviderKind
    base_url: str | None
    endpoint: str | None
    api_key_env: str | None
    api_version: str | None
    limits: EndpointLimits
    request_timeout_s: float
    connect_timeout_s: float


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    provider: str
    deployments: tuple[DeploymentConfig, ...]
    aliases: tuple[str, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None
    # sampling settings sent with every request when set; like temperature and max_tokens they
    # are part of the test id (runbench.plan.GenerationSettings)
    top_p: float | None = None
    seed: int | None = None
    profile: str | None = None  # sim models only
    latency_ms: float = 0.0  # sim models only
    # USD per million tokens; None = unknown, so reports show tokens but no cost
    price_prompt_per_mtok: float | None = None
    price_completion_per_mtok: float | None = None


@dataclass(frozen=True, slots=True)
class RunbenchConfig:
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    source: Path | None = None
    # a WorkflowBench tool_registry.json (``tools = "…"``), relative to the config file's folder
    tools: Path | None = None
    # the model whose /v1/embeddings endpoint scores semantic tool matches (docs/SCORING.md)
    embeddings: str | None = None
    # the model that classifies non-full tests when a run asks for it (--classifier,
    # --ai-classification); None keeps the rule-based classifier
    classifier: str | None = None
    # a WorkflowBench tool embedding index pickle (``tool_index = "…"``, --tool-index), relative
    # to the config file's folder: phase 2's similarity and tool search rank with it
    tool_index: Path | None = None

    def resolve_model(self, name: str) -> ModelConfig:
        """The model a user-typed name means: canonical name, alias or deployment, any case.

        Raises:
            UsageError: no model has that name; the message suggests close names.
        """
        table = self.name_table()
        found = table.get(name.strip().lower())
        if found is None:
            import difflib

            close = difflib.get_close_matches(name.lower(), list(table), n=3, cutoff=0.6)
            where = f"in {self.source}" if self.source else "among the built-in models"
            suggestion = (
                f"; did you mean {', '.join(sorted({table[c].name for c in close}))}?"
                if close
                else ""
            )
            raise UsageError(
                f"unknown model '{name}' {where}{suggestion}",
                hint="runbench models lists every model; add yours under [models] in runbench.toml",
            )
        return found

    def canonical_name(self, name: str) -> str:
        """The canonical name of a configured model (alias or deployment); others as given.

        Reports and ``compare`` take names that may exist only in the store (a legacy import),
        so an unknown name is not an error here.
        """
        found = self.name_table().get(name.strip().lower())
        return found.name if found is not None else name

    def own_models(self) -> tuple[str, ...]:
        """The models the config file itself defines (not the built-in sims), in file order."""
        builtin = builtin_config().models
        return tuple(name for name in self.models if name not in builtin)

    def models_of_provider(self, provider: str) -> tuple[str, ...]:
        """Every model of a provider (for ``provider-parallel --provider``).

        Raises:
            UsageError: no provider of that name, or it has no model.
        """
        if provider not in self.providers:
            raise UsageError(
                f"unknown provider '{provider}'; providers: {', '.join(sorted(self.providers))}"
            )
        models = tuple(name for name, model in self.models.items() if model.provider == provider)
        if not models:
            raise UsageError(f"provider '{provider}' has no model in the configuration")
        return models

    def deployment_rows(self, environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """One row per deployment for ``runbench models``: limits and key variable, never a key."""
        return [
            {
                "model": model.name,
                "aliases": list(model.aliases),
                "provider": model.provider,
                "deployment": deployment.name,
                "kind": deployment.kind,
                "max_concurrency": deployment.limits.max_concurrency,
                "rpm": deployment.limits.requests_per_minute,
                "tpm": deployment.limits.tokens_per_minute,
                "key_env": deployment.api_key_env,
                "key_set": key_is_set(deployment.api_key_env, environ),
            }
            for model in self.models.values()
            for deployment in model.deployments
        ]

    def name_table(self) -> dict[str, ModelConfig]:
        """Every name a model answers to, lower-cased, mapped to the model (one table)."""
        table: dict[str, ModelConfig] = {}
        for model in self.models.values():
            for alias in (model.name, *model.aliases, *(d.name for d in model.deployments)):
                table.setdefault(alias.lower(), model)
        return table


def builtin_config() -> RunbenchConfig:
    """The defaults: the sim provider and its simulated models; no file, no key, no network."""
    sim = ProviderConfig("sim", "sim", limits=EndpointLimits(max_concurrency=64))
    models = {}
    for profile in ("oracle", "strong", "average", "weak", "flaky"):
        name = f"sim-{profile}"
        models[name] = ModelConfig(name, "sim", (_deployment(name, sim, {}),), profile=profile)
    return RunbenchConfig({"sim": sim}, models)


def resolve_config_path(
    config: Path | None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """``--config`` > ``RUNBENCH_CONFIG`` > ``./runbench.toml`` > None (built-in defaults)."""
    env = os.environ if environ is None else environ
    if config is not None:
        return config
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_config(path: Path | None) -> RunbenchConfig:
    """Read a runbench.toml on top of the built-in sim models; ``None`` gives the defaults.

    Raises:
        ConfigError: the file is missing, not TOML, names an unknown field or kind, holds a
            literal key, or a model names an unknown provider. Messages name the table and field.
    """
    base = builtin_config()
    if path is None:
        return base
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist", hint="pass --config PATH or unset RUNBENCH_CONFIG"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    _refuse_literal_keys(document, path)
    embeddings = document.pop("embeddings", None)  # a key, not a table: read before the check
    classifier = document.pop("classifier", None)
    unknown = set(document) - {"providers", "models", "tools", "tool_index"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown table '{sorted(unknown)[0]}'; tables are [providers] and [models]"
        )
    tools = document.get("tools")
    if tools is not None and (not isinstance(tools, str) or not tools.strip()):
        raise ConfigError(f"{path}: 'tools' must be the path of a tool_registry.json")
    tool_index = document.get("tool_index")
    if tool_index is not None and (not isinstance(tool_index, str) or not tool_index.strip()):
        raise ConfigError(f"{path}: 'tool_index' must be the path of a tool index pickle")
    providers = dict(base.providers)
    for name, table in _tables(document.get("providers", {}), path, "providers").items():
        providers[name] = _provider(name, table, path)
    models = dict(base.models)
    for name, table in _tables(document.get("models", {}), path, "models").items():
        models[name] = _model(name, table, providers, path)
    config = RunbenchConfig(providers, models, path, tools=path.parent / tools if tools else None)
    return dataclasses.replace(
        config,
        embeddings=_model_key(config, "embeddings", embeddings, path),
        classifier=_model_key(config, "classifier", classifier, path),
        tool_index=path.parent / tool_index if tool_index else None,
    )


def _model_key(config: RunbenchConfig, key: str, value: Any, path: Path) -> str | None:
    """The canonical name of the model a top-level key names (``embeddings``, ``classifier``).

    Raises:
        ConfigError: the value names no model of [models].
    """
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in config.name_table():
        raise ConfigError(
            f"{path}: {key} = {value!r} names no model of [models]",
            hint=f'write {key} = "<model>" with a model defined under [models]',
        )
    return config.resolve_model(value).name


def api_key(deployment: DeploymentConfig, environ: Mapping[str, str] | None = None) -> str:
    """The key of a deployment, read from the environment variable the config names.

    Raises:
        ConfigError: the config names no variable, or the variable is unset or empty.
    """
    env = os.environ if environ is None else environ
    if not deployment.api_key_env:
        raise ConfigError(
            f"deployment '{deployment.name}' of provider '{deployment.provider}' has no api_key_env"
        )
    value = env.get(deployment.api_key_env, "").strip()
    if not value:
        raise ConfigError(
            f"environment variable {deployment.api_key_env} (the key of provider "
            f"'{deployment.provider}', deployment '{deployment.name}') is not set",
            hint=f"export {deployment.api_key_env}=... before running",
        )
    return value


def configured_secrets(
    config: RunbenchConfig, environ: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The values of every key variable the configuration names and the environment sets.

    What no record, transcript, log line or message may contain: a run builds one
    ``runbench.redact.Redactor`` from them for everything it writes or prints.
    """
    env = os.environ if environ is None else environ
    variables = {provider.api_key_env for provider in config.providers.values()}
    for model in config.models.values():
        variables.update(deployment.api_key_env for deployment in model.deployments)
    values = (env.get(variable, "").strip() for variable in sorted(v for v in variables if v))
    return tuple(sorted({value for value in values if value}))


def key_is_set(variable: str | None, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(variable and env.get(variable, "").strip())


def _tables(value: Any, path: Path, section: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(
            f"{path}: [{section}] must hold one table per entry, e.g. [{section}.NAME]"
        )
    return value


def _refuse_literal_keys(node: Any, path: Path, where: str = "") -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            place = f"{where}.{key}" if where else key
            if key in ("api_key", "key", "token", "secret"):
                raise ConfigError(
                    f"{path}: {place}: a literal key is refused",
                    hint="put the key in an environment variable and name it with api_key_env",
                )
            _refuse_literal_keys(value, path, place)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _refuse_literal_keys(value, path, f"{where}[{index}]")
    elif isinstance(node, str) and _KEY_LIKE.search(node):
        raise ConfigError(
            f"{path}: {where}: this value looks like a literal key and is refused",
            hint="put the key in an environment variable and name it with api_key_env",
        )


def _refuse_url_credentials(url: Any, path: Path, place: str) -> None:
    """Refuse ``http://user:password@host``: the password would travel and be echoed as Basic auth.

    Raises:
        ConfigError: the URL carries a user name or password.
    """
    if not isinstance(url, str):
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        has_credentials = parts.username is not None or parts.password is not None
    except ValueError:
        raise ConfigError(f"{path}: {place} is not a valid URL") from None
    if has_credentials:
        raise ConfigError(
            f"{path}: {place} carries credentials (user:password@); they are refused",
            hint="remove them from the URL; put the key in an environment variable "
            "and name it with api_key_env",
        )


def _check_fields(table: dict[str, Any], allowed: set[str], path: Path, place: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        fields = ", ".join(sorted(allowed))
        raise ConfigError(
            f"{path}: {place}: unknown field '{sorted(unknown)[0]}'; fields are {fields}"
        )


def _limits(
    table: dict[str, Any], default: EndpointLimits, path: Path, place: str
) -> EndpointLimits:
    values = {}
    for field_name, attribute in (
        ("max_concurrency", "max_concurrency"),
        ("rpm", "requests_per_minute"),
        ("tpm", "tokens_per_minute"),
    ):
        value = table.get(field_name, getattr(default, attribute))
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ConfigError(f"{path}: {place}.{field_name} must be a positive integer")
        values[attribute] = value
    return EndpointLimits(**values)  # type: ignore[arg-type]  # checked ints, built by name


def _provider(name: str, table: dict[str, Any], path: Path) -> ProviderConfig:
    place = f"providers.{name}"
    _check_fields(table, _PROVIDER_FIELDS, path, place)
    kind = table.get("kind")
    if kind not in PROVIDER_KINDS:
        raise ConfigError(f"{path}: {place}.kind must be one of {', '.join(PROVIDER_KINDS)}")
    if kind == "openai" and not table.get("base_url"):
        raise ConfigError(f"{path}: {place}.base_url is required for an openai provider")
    if kind == "azure" and not (table.get("endpoint") and table.get("api_version")):
        raise ConfigError(f"{path}: {place} needs endpoint and api_version (kind azure)")
    if kind != "sim" and not table.get("api_key_env"):
        raise ConfigError(
            f"{path}: {place}.api_key_env is required: the variable that holds the key"
        )
    for field_name in ("base_url", "endpoint"):
        _refuse_url_credentials(table.get(field_name), path, f"{place}.{field_name}")
    timeouts = {}
    for field_name in ("request_timeout_s", "connect_timeout_s"):
        if field_name in table:
            value = table[field_name]
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(
                    f"{path}: {place}.{field_name} must be a positive number of seconds"
                )
            timeouts[field_name] = float(value)
    return ProviderConfig(
        name=name,
        kind=kind,
        base_url=table.get("base_url"),
        endpoint=table.get("endpoint"),
        api_key_env=table.get("api_key_env"),
        api_version=table.get("api_version"),
        limits=_limits(table, EndpointLimits(), path, place),
        **timeouts,
    )


def _deployment(
    name: str,
    provider: ProviderConfig,
    overrides: dict[str, Any],
    *,
    path: Path | None = None,
    place: str = "",
) -> DeploymentConfig:
    limits = (
        _limits(overrides, provider.limits, path or Path("."), place)
        if overrides
        else provider.limits
    )
    return DeploymentConfig(
        name=name,
        provider=provider.name,
        kind=provider.kind,
        base_url=overrides.get("base_url", provider.base_url),
        endpoint=overrides.get("endpoint", provider.endpoint),
        api_key_env=overrides.get("api_key_env", provider.api_key_env),
        api_version=provider.api_version,
        limits=limits,
        request_timeout_s=provider.request_timeout_s,
        connect_timeout_s=provider.connect_timeout_s,
    )


def _model(
    name: str, table: dict[str, Any], providers: dict[str, ProviderConfig], path: Path
) -> ModelConfig:
    place = f"models.{name}"
    _check_fields(table, _MODEL_FIELDS, path, place)
    provider_name = table.get("provider")
    if provider_name not in providers:
        raise ConfigError(f"{path}: {place}.provider '{provider_name}' is not under [providers]")
    provider = providers[provider_name]
    entries = table.get("deployments", [name])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: {place}.deployments must be a non-empty list")
    deployments = []
    for index, entry in enumerate(entries):
        where = f"{place}.deployments[{index}]"
        if isinstance(entry, str):
            deployments.append(_deployment(entry, provider, {}))
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            _check_fields(entry, _DEPLOYMENT_FIELDS, path, where)
            for field_name in ("base_url", "endpoint"):
                _refuse_url_credentials(entry.get(field_name), path, f"{where}.{field_name}")
            deployments.append(_deployment(entry["name"], provider, entry, path=path, place=where))
        else:
            raise ConfigError(f"{path}: {where} must be a name or a table with a name")
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ConfigError(f"{path}: {place}.aliases must be a list of names")
    profile = table.get("profile")
    if provider.kind == "sim" and profile is None:
        profiles = "oracle, strong, average, weak, flaky"
        raise ConfigError(f"{path}: {place}.profile is required for a sim model ({profiles})")
    return ModelConfig(
        name=name,
        provider=provider_name,
        deployments=tuple(deployments),
        aliases=tuple(aliases),
        temperature=table.get("temperature"),
        max_tokens=table.get("max_tokens"),
        top_p=_optional_number(table, "top_p", path, place, maximum=1.0),
        seed=_optional_integer(table, "seed", path, place),
        profile=profile,
        latency_ms=float(table.get("latency_ms", 0.0)),
        price_prompt_per_mtok=_price(table, "price_prompt_per_mtok", path, place),
        price_completion_per_mtok=_price(table, "price_completion_per_mtok", path, place),
    )


def _price(table: dict[str, Any], field_name: str, path: Path, place: str) -> float | None:
    value = table.get(field_name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{path}: {place}.{field_name} must be a number of USD, 0 or more")
    return float(value)


def _optional_number(
    table: dict[str, Any], key: str, path: Path, place: str, *, maximum: float
) -> float | None:
    """A sampling setting that must be a number in [0, maximum] when given.

    Raises:
        ConfigError: it is not.
    """
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= maximum:
        raise ConfigError(f"{path}: {place}.{key} must be a number from 0 to {maximum:g}")
    return float(value)


def _optional_integer(table: dict[str, Any], key: str, path: Path, place: str) -> int | None:
    """A setting that must be a whole number when given.

    Raises:
        ConfigError: it is not.
    """
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}: {place}.{key} must be a whole number")
    return value
