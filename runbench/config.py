"""Where runbench reads its environment: the only module that looks at ``os.environ``.

Keeping every environment read here means a test can pass an explicit mapping instead of
patching the process environment, and a reader can see every variable runbench honours in
one screen.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from runbench.errors import ConfigError, UsageError

StorageFormat = Literal["json", "parquet"]
STORAGE_FORMATS: tuple[str, ...] = get_args(StorageFormat)
DEFAULT_STORE_ROOT = Path("runbench_results")

ENV_STORAGE_FORMAT = "STORAGE_FORMAT"
ENV_STORE = "RUNBENCH_STORE"


OBJECT_STORE_SCHEMES = ("s3",)
ENV_CACHE = "RUNBENCH_CACHE"
ENV_S3_ENDPOINT = "AWS_ENDPOINT_URL"
ENV_S3_KEY_ID = "AWS_ACCESS_KEY_ID"
ENV_S3_SECRET = "AWS_SECRET_ACCESS_KEY"
ENV_S3_SESSION_TOKEN = "AWS_SESSION_TOKEN"
ENV_S3_REGIONS = ("AWS_REGION", "AWS_DEFAULT_REGION")
ENV_S3_ALLOW_HTTP = "AWS_ALLOW_HTTP"
ENV_UPLOAD_ROWS = "RUNBENCH_UPLOAD_ROWS"
ENV_UPLOAD_SECONDS = "RUNBENCH_UPLOAD_SECONDS"
DEFAULT_UPLOAD_ROWS = 20_000
DEFAULT_UPLOAD_SECONDS = 60.0
ENV_S3_TIMEOUT = "RUNBENCH_S3_TIMEOUT"
ENV_S3_ATTEMPTS = "RUNBENCH_S3_ATTEMPTS"
# One bucket request, all its attempts included, may take this long before the store counts as
# not answering (docs/ARCHITECTURE.md, "Every wait is bounded", says why 30 s and 3 attempts).
DEFAULT_S3_TIMEOUT_S = 30.0
DEFAULT_S3_ATTEMPTS = 3
# the attempts share one request's bound: 10 already leaves each 3 s of the default 30 s, and
# 100,000 left 0.3 ms, so a live store was reported as not answering
MAX_S3_ATTEMPTS = 10
MAX_S3_CONNECT_TIMEOUT_S = 5.0
# a longer bound is no bound (and past ~1e9 s the socket layer cannot even represent it)
MAX_S3_TIMEOUT_S = 86_400.0
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class ObjectStoreSettings:
    """Where an object store is and how to reach it.

    From ``s3://bucket/prefix`` and the standard variables every S3 client reads, so one
    environment serves runbench, the AWS CLI, DuckDB and Polars alike.

    ``cache`` is this machine's folder for the store's write-ahead segments: rows are durable
    there before they are uploaded, every ``upload_rows`` rows or ``upload_every_s`` seconds
    and at exit. The secret never appears in ``repr``.

    ``request_timeout_s`` bounds one bucket request with all its ``attempts`` (a body adds its
    transfer time at a floor rate, ``storage/bucket.py``): a store that stops answering fails
    a command in bounded time instead of holding it, and its SIGTERM, for minutes.
    """

    url: str
    bucket: str
    prefix: str
    cache: Path
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = dataclasses.field(default=None, repr=False)
    secret_access_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)
    allow_http: bool = False
    upload_rows: int = DEFAULT_UPLOAD_ROWS
    upload_every_s: float = DEFAULT_UPLOAD_SECONDS
    request_timeout_s: float = DEFAULT_S3_TIMEOUT_S
    attempts: int = DEFAULT_S3_ATTEMPTS

    @property
    def attempt_timeout_s(self) -> float:
        """How long one attempt may wait for a byte (read) before botocore tries again."""
        return self.request_timeout_s / self.attempts

    @property
    def connect_timeout_s(self) -> float:
        """How long one attempt may wait for a connection (a live endpoint accepts in ms)."""
        return min(MAX_S3_CONNECT_TIMEOUT_S, self.attempt_timeout_s)

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (a path inside the store, ``/``-separated)."""
        return f"{self.prefix}/{relative}" if self.prefix else relative


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Which store a command opens: its format and its root folder (or its object store).

    For an object store ``root`` is the local cache folder of its write-ahead segments and
    ``remote`` says where the bucket is.
    """

    format: StorageFormat
    root: Path
    remote: ObjectStoreSettings | None = None

    def describe(self) -> str:
        """What a user typed to name this store: the URL, or the folder."""
        return self.remote.url if self.remote is not None else str(self.root)


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
    store: Path | str | None,
    environ: Mapping[str, str] | None = None,
) -> StoreLocation:
    """Pick the store: ``--storage`` > ``STORAGE_FORMAT`` > json; ``--store`` > ``RUNBENCH_STORE``.

    A store given as ``s3://bucket/prefix`` is the Parquet store in that bucket: ``--storage``
    may be omitted (parquet is the only format there) but not be json.

    Raises:
        UsageError: the format named by the flag or the variable is unknown; the store is a URL
            of a scheme runbench does not speak, names no bucket, or asks for a JSON store on an
            object store.
    """
    env = os.environ if environ is None else environ
    if store is not None:
        given, source = str(store), "--store"
    elif env.get(ENV_STORE):
        given, source = env[ENV_STORE], ENV_STORE
    else:
        given, source = str(DEFAULT_STORE_ROOT), ""
    if storage is not None:
        fmt: StorageFormat | None = parse_storage_format(storage, source="--storage")
        format_source = "--storage"
    elif env.get(ENV_STORAGE_FORMAT):
        fmt = parse_storage_format(env[ENV_STORAGE_FORMAT], source=ENV_STORAGE_FORMAT)
        format_source = ENV_STORAGE_FORMAT
    else:
        fmt, format_source = None, ""
    remote = object_store_settings(given, source, env) if _is_url(given, store) else None
    if remote is None:
        return StoreLocation(
            format=fmt or "json", root=store if isinstance(store, Path) else Path(given)
        )
    if fmt == "json":
        raise UsageError(
            f"a JSON store cannot live on an object store ({remote.url}, json from "
            f"{format_source}); only the Parquet store can",
            hint="use --storage parquet with an s3:// store, or a local folder for JSON",
        )
    return StoreLocation(format="parquet", root=remote.cache, remote=remote)


def _is_url(given: str, store: Path | str | None) -> bool:
    """A ``scheme://`` store, also when it arrived as a Path (which folds ``//`` into ``/``)."""
    if _URL_SCHEME.match(given):
        return True
    return (
        isinstance(store, Path) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/[^/]", given) is not None
    )


def object_store_settings(
    url: str, source: str, environ: Mapping[str, str] | None = None
) -> ObjectStoreSettings:
    """Parse ``s3://bucket/prefix`` and read the S3 variables and the cache folder.

    Raises:
        UsageError: a scheme other than s3, no bucket, a bucket name S3 refuses, or
            ``AWS_ALLOW_HTTP`` that is not a boolean.
    """
    env = os.environ if environ is None else environ
    match = _URL_SCHEME.match(url) or re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):/(.*)$", url)
    assert match is not None  # _is_url said so
    scheme, rest = match.group(1).lower(), match.group(2)
    named = f" from {source}" if source else ""
    if scheme not in OBJECT_STORE_SCHEMES:
        raise UsageError(
            f"unsupported store URL scheme '{scheme}://'{named}; runbench stores results in a "
            "local folder or in s3:// (S3 and S3-compatible object stores)",
            hint="pass --store a folder or s3://bucket/prefix",
        )
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not bucket:
        raise UsageError(
            f"the store URL {url!r}{named} names no bucket",
            hint="write it as s3://bucket/prefix (the prefix is optional)",
        )
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise UsageError(
            f"'{bucket}' in {url!r}{named} is not a valid S3 bucket name (3 to 63 lowercase "
            "letters, digits, '.' or '-')"
        )
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise UsageError(  # '..' would lead the local cache folder, and the keys, elsewhere
            f"the prefix in {url!r}{named} holds an empty, '.' or '..' part",
            hint="write it as s3://bucket/a/b, each part a name",
        )
    canonical = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    allow_http = env.get(ENV_S3_ALLOW_HTTP, "").strip().lower()
    if allow_http not in ("", "0", "1", "true", "false", "yes", "no"):
        raise UsageError(f"{ENV_S3_ALLOW_HTTP} must be true or false, got {allow_http!r}")
    endpoint = env.get(ENV_S3_ENDPOINT) or None
    if (
        endpoint is not None
        and endpoint.lower().startswith("http://")
        and allow_http
        not in (
            "1",
            "true",
            "yes",
        )
    ):
        raise UsageError(
            f"{ENV_S3_ENDPOINT} is plain HTTP ({re.sub(r'//[^/@]*@', '//***@', endpoint)}) but "
            f"{ENV_S3_ALLOW_HTTP} is not true",
            hint=f"set {ENV_S3_ALLOW_HTTP}=true to allow an unencrypted endpoint",
        )
    region = next((env[name] for name in ENV_S3_REGIONS if env.get(name)), None)
    return ObjectStoreSettings(
        url=canonical,
        bucket=bucket,
        prefix=prefix,
        cache=_cache_root(env) / "s3" / bucket / (prefix or "_"),
        endpoint_url=endpoint,
        region=region,
        access_key_id=env.get(ENV_S3_KEY_ID) or None,
        secret_access_key=env.get(ENV_S3_SECRET) or None,
        session_token=env.get(ENV_S3_SESSION_TOKEN) or None,
        allow_http=allow_http in ("1", "true", "yes"),
        upload_rows=_whole(env, ENV_UPLOAD_ROWS, DEFAULT_UPLOAD_ROWS),
        upload_every_s=_positive(env, ENV_UPLOAD_SECONDS, DEFAULT_UPLOAD_SECONDS),
        request_timeout_s=_positive(
            env, ENV_S3_TIMEOUT, DEFAULT_S3_TIMEOUT_S, maximum=MAX_S3_TIMEOUT_S
        ),
        attempts=_whole(env, ENV_S3_ATTEMPTS, DEFAULT_S3_ATTEMPTS, maximum=MAX_S3_ATTEMPTS),
    )


def _positive(
    env: Mapping[str, str], name: str, default: float, *, maximum: float = math.inf
) -> float:
    """A positive, finite number from ``env`` (at most ``maximum``).

    Infinity is refused: turned into a row count it was an OverflowError, and as a request
    bound the socket layer failed with an error that blamed the network.
    """
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise UsageError(f"{name} must be a positive number, got {text!r}")
    if value > maximum:
        raise UsageError(f"{name} must be a positive number of at most {maximum:g}, got {text!r}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, *, maximum: int | None = None) -> int:
    """A whole number ≥ 1 (at most ``maximum``) from ``env``: "0.5" is refused, not rounded to 0."""
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:  # "²" is a digit to isdigit
        raise UsageError(f"{name} must be a whole number of at least 1, got {text!r}")
    if maximum is not None and int(text) > maximum:
        raise UsageError(f"{name} must be at most {maximum}, got {text!r}")
    return int(text)


def _cache_root(env: Mapping[str, str]) -> Path:
    """``RUNBENCH_CACHE``, else ``$XDG_CACHE_HOME/runbench``, else ``~/.cache/runbench``."""
    if env.get(ENV_CACHE):
        return Path(env[ENV_CACHE])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "runbench"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache" / "runbench"


# ---------------------------------------------------------------------------------------------
# runbench.toml: providers, models, deployments (README.md, "Configuration")

ENV_CONFIG = "RUNBENCH_CONFIG"
DEFAULT_CONFIG_FILE = Path("runbench.toml")
ProviderKind = Literal["sim", "openai", "azure"]
DEFAULT_MAX_REPLY_BYTES = 1 << 20  # 1 MiB: far above any chat reply, far below a runaway one
PROVIDER_KINDS: tuple[str, ...] = get_args(ProviderKind)
SIM_PROFILES = ("oracle", "strong", "average", "weak", "flaky")
_KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{12,}|[A-Fa-f0-9]{32,})")


@dataclass(frozen=True, slots=True)
class _Field:
    """One declared key of runbench.toml: the value it accepts, said the way the error says it.

    The schema below is the one place a key's type and range are written; ``load_config``
    checks every table against it before building anything, so a wrong value is one message
    naming the file and the key instead of a crash deep inside a run.
    """

    kind: Literal["number", "integer", "text", "names", "any"]
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False  # the minimum itself is refused (a positive number)
    wording: str = ""

    def accepts(self, value: object) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "text":
            return isinstance(value, str)
        if self.kind == "names":
            return isinstance(value, list) and all(isinstance(item, str) for item in value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "integer" and not isinstance(value, int):
            return False
        if self.minimum is not None and (
            value < self.minimum or (self.above_minimum and value == self.minimum)
        ):
            return False
        return self.maximum is None or value <= self.maximum


_TEXT = _Field("text", wording="must be text")
_POSITIVE_INTEGER = _Field("integer", 1, wording="must be a positive integer")
_SECONDS = _Field("number", 0, above_minimum=True, wording="must be a positive number of seconds")
_USD = _Field("number", 0, wording="must be a number of USD, 0 or more")
_PROVIDER_FIELDS: dict[str, _Field] = {
    "kind": _TEXT,
    "base_url": _TEXT,
    "endpoint": _TEXT,
    "api_key_env": _TEXT,
    "api_version": _TEXT,
    "max_concurrency": _POSITIVE_INTEGER,
    "rpm": _POSITIVE_INTEGER,
    "tpm": _POSITIVE_INTEGER,
    "request_timeout_s": _SECONDS,
    "connect_timeout_s": _SECONDS,
    "max_reply_bytes": _POSITIVE_INTEGER,
}
_MODEL_FIELDS: dict[str, _Field] = {
    "price_prompt_per_mtok": _USD,
    "price_completion_per_mtok": _USD,
    "provider": _TEXT,
    "deployments": _Field("any"),  # names or tables, checked entry by entry
    "aliases": _Field("names", wording="must be a list of names"),
    "temperature": _Field("number", 0, 2, wording="must be a number from 0 to 2"),
    "top_p": _Field("number", 0, 1, wording="must be a number from 0 to 1"),
    "max_tokens": _POSITIVE_INTEGER,
    "seed": _Field("integer", wording="must be a whole number"),
    "profile": _TEXT,
    "latency_ms": _Field("number", 0, wording="must be a number of milliseconds, 0 or more"),
}
_DEPLOYMENT_FIELDS: dict[str, _Field] = {
    "name": _TEXT,
    **{key: _PROVIDER_FIELDS[key] for key in ("base_url", "endpoint", "api_key_env")},
    **{key: _PROVIDER_FIELDS[key] for key in ("max_concurrency", "rpm", "tpm")},
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
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES


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
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES  # a larger reply is an error row


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
    for profile in SIM_PROFILES:
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
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise ConfigError(  # an HTTP header cannot carry it; the value itself is never shown
            f"environment variable {deployment.api_key_env} (the key of provider "
            f"'{deployment.provider}', deployment '{deployment.name}') holds a control "
            "character such as a newline; a key is one line of text",
            hint=f"export {deployment.api_key_env} again without the line break",
        )
    return value


def require_keys(
    config: RunbenchConfig, models: Sequence[str], environ: Mapping[str, str] | None = None
) -> None:
    """Check every key the models' deployments need before a run creates anything.

    Raises:
        ConfigError: a key variable is unset, empty or not one line of text (``api_key``).
    """
    for name in models:
        for deployment in config.resolve_model(name).deployments:
            if deployment.kind != "sim":
                api_key(deployment, environ)


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


def _check_fields(table: dict[str, Any], schema: dict[str, _Field], path: Path, place: str) -> None:
    """Check a table against its declared schema: no unknown key, every value of its type.

    Raises:
        ConfigError: one message naming the file, the key and what it must be.
    """
    unknown = set(table) - set(schema)
    if unknown:
        fields = ", ".join(sorted(schema))
        raise ConfigError(
            f"{path}: {place}: unknown field '{sorted(unknown)[0]}'; fields are {fields}"
        )
    for key, value in table.items():
        declared = schema[key]
        if not declared.accepts(value):
            raise ConfigError(
                f"{path}: {place}.{key} {declared.wording} (got {_shown(value)})",
                hint=f"fix {key} under [{place}] in {path}",
            )


def _shown(value: object) -> str:
    """A config value as TOML would write it, cut short: what the user typed, not Python's repr."""
    import json

    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _limits(
    table: dict[str, Any], default: EndpointLimits, path: Path, place: str
) -> EndpointLimits:
    values = {}
    for field_name, attribute in (
        ("max_concurrency", "max_concurrency"),
        ("rpm", "requests_per_minute"),
        ("tpm", "tokens_per_minute"),
    ):
        values[attribute] = table.get(field_name, getattr(default, attribute))
    return EndpointLimits(**values)  # checked against the schema


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
    timeouts = {
        field_name: float(table[field_name])
        for field_name in ("request_timeout_s", "connect_timeout_s")
        if field_name in table
    }
    cap = int(table.get("max_reply_bytes", DEFAULT_MAX_REPLY_BYTES))
    return ProviderConfig(
        name=name,
        kind=kind,
        base_url=table.get("base_url"),
        endpoint=table.get("endpoint"),
        api_key_env=table.get("api_key_env"),
        api_version=table.get("api_version"),
        limits=_limits(table, EndpointLimits(), path, place),
        max_reply_bytes=cap,
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
        max_reply_bytes=provider.max_reply_bytes,
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
    profile = table.get("profile")
    if provider.kind == "sim" and profile not in SIM_PROFILES:
        profiles = ", ".join(SIM_PROFILES)
        raise ConfigError(f"{path}: {place}.profile is required for a sim model ({profiles})")
    return ModelConfig(
        name=name,
        provider=provider_name,
        deployments=tuple(deployments),
        aliases=tuple(table.get("aliases", [])),
        temperature=_float_or_none(table.get("temperature")),
        max_tokens=table.get("max_tokens"),
        top_p=_float_or_none(table.get("top_p")),
        seed=table.get("seed"),
        profile=profile,
        latency_ms=float(table.get("latency_ms", 0.0)),
        price_prompt_per_mtok=_float_or_none(table.get("price_prompt_per_mtok")),
        price_completion_per_mtok=_float_or_none(table.get("price_completion_per_mtok")),
    )


def _float_or_none(value: int | float | None) -> float | None:
    """A checked number as a float (TOML's ``1`` and ``1.0`` mean the same setting)."""
    return None if value is None else float(value)
