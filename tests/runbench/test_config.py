from __future__ import annotations

import re
from pathlib import Path

import pytest

from runbench.config import api_key, builtin_config, load_config, resolve_config_path
from runbench.errors import ConfigError, UsageError
from tests.conftest import REPO, run_cli

GOOD = """
[providers.gw]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "GW_KEY"
max_concurrency = 8
rpm = 60

[models."big-model"]
provider = "gw"
deployments = ["big-model", { name = "big-model-2", api_key_env = "GW_KEY_2", max_concurrency = 2 }]
aliases = ["Big"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runbench.toml"
    path.write_text(text)
    return path


def test_builtin_defaults_need_no_file_and_no_key() -> None:
    config = load_config(None)
    assert {"sim-oracle", "sim-strong", "sim-average", "sim-weak", "sim-flaky"} <= set(
        config.models
    )
    assert config.resolve_model("SIM-Weak").profile == "weak"
    assert builtin_config().providers["sim"].kind == "sim"


def test_names_resolve_case_insensitively_through_aliases_and_deployments(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert config.resolve_model("big").name == "big-model"
    assert config.resolve_model("BIG-MODEL-2").name == "big-model"
    second = config.models["big-model"].deployments[1]
    assert (
        second.api_key_env,
        second.limits.max_concurrency,
        second.limits.requests_per_minute,
    ) == ("GW_KEY_2", 2, 60)


def test_unknown_model_suggests_close_names(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="did you mean big-model"):
        load_config(_write(tmp_path, GOOD)).resolve_model("big-modl")


_PROVIDER = '[providers.x]\nkind = "openai"\nbase_url = "http://h/v1"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[providers.x\n", "not valid TOML"),
        (
            '[providers.x]\nkind = "openai"\nbase_url = "http://h/v1"\napi_key = "abc"\n',
            "literal key is refused",
        ),
        (
            _PROVIDER + 'api_key_env = "sk-abcdefghijklmnopqrstuv"\n',
            "looks like a literal key",
        ),
        ('[providers.x]\nkind = "grpc"\n', "kind must be one of sim, openai, azure"),
        ('[providers.x]\nkind = "openai"\nbase_url = "http://h/v1"\n', "api_key_env is required"),
        (
            '[providers.x]\nkind = "azure"\nendpoint = "http://h"\napi_key_env = "K"\n',
            "needs endpoint and api_version",
        ),
        (
            _PROVIDER + 'api_key_env = "K"\ncolour = 1\n',
            "unknown field 'colour'",
        ),
        ('[models.m]\nprovider = "nowhere"\n', "provider 'nowhere' is not under [providers]"),
        (
            _PROVIDER + 'api_key_env = "K"\nrpm = -1\n',
            "rpm must be a positive integer",
        ),
        ('[models.m]\nprovider = "sim"\n', "profile is required for a sim model"),
        ('[models.m]\nprovider = "sim"\nprofile = "legendary"\n', "profile is required"),
        (
            _PROVIDER + 'api_key_env = "K"\nrequest_timeout_s = "slow"\n',
            'providers.x.request_timeout_s must be a positive number of seconds (got "slow")',
        ),
        (
            '[models.m]\nprovider = "sim"\nprofile = "weak"\naliases = "m2"\n',
            'models.m.aliases must be a list of names (got "m2")',
        ),
        (
            '[models.m]\nprovider = "sim"\nprofile = "weak"\ntemperature = true\n',
            "models.m.temperature must be a number from 0 to 2 (got true)",
        ),
        (
            '[models.m]\nprovider = "sim"\nprofile = "weak"\n'
            'deployments = [{name = "d", rpm = 0}]\n',
            "models.m.deployments[0].rpm must be a positive integer (got 0)",
        ),
    ],
)
def test_bad_config_files_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_write(tmp_path, text))


def test_missing_key_names_the_variable_and_config_path_precedence(tmp_path: Path) -> None:
    deployment = load_config(_write(tmp_path, GOOD)).models["big-model"].deployments[0]
    with pytest.raises(ConfigError, match=r"GW_KEY .* is not set"):
        api_key(deployment, {})
    assert api_key(deployment, {"GW_KEY": "value"}) == "value"
    assert resolve_config_path(Path("a.toml"), {"RUNBENCH_CONFIG": "b.toml"}) == Path("a.toml")
    assert resolve_config_path(None, {"RUNBENCH_CONFIG": "b.toml"}) == Path("b.toml")


def test_the_example_config_defines_the_seeds_models() -> None:
    config = load_config(REPO / "runbench.example.toml")
    for name in (
        "gpt-4o-mini",
        "gpt-5-mini",
        "DeepSeek-V3-0324",
        "qwen2.5-72b-instruct",
        "qwen2.5-3b-instruct",
        "Llama-3.3-70B-Instruct",
    ):
        assert name in config.models
    deepseek = [d.name for d in config.models["DeepSeek-V3-0324"].deployments]
    assert deepseek == ["DeepSeek-V3-0324", "DeepSeek-V3-0324-2", "DeepSeek-V3-0324-3"]
    qwen_keys = {d.api_key_env for d in config.models["qwen2.5-72b-instruct"].deployments}
    assert len(qwen_keys) == 2, "two keys of one provider are two deployments"
    assert config.models["gpt-4o-mini"].deployments[0].kind == "azure"


def test_models_command_shows_variables_never_values(tmp_path: Path) -> None:
    secret = "sk-SENTINEL0123456789abcdefSENTINEL"
    path = _write(tmp_path, GOOD)
    result = run_cli("models", "--config", str(path), env={"GW_KEY": secret})
    assert result.returncode == 0, result.stderr
    assert (
        "GW_KEY" in result.stdout and "GW_KEY_2" in result.stdout and "big-model-2" in result.stdout
    )
    assert secret not in result.stdout + result.stderr
    as_json = run_cli("models", "--config", str(path), "--json", env={"GW_KEY": secret})
    assert secret not in as_json.stdout and '"key_set": true' in as_json.stdout
    bad = run_cli("models", "--config", str(tmp_path / "missing.toml"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_the_reply_size_cap_is_a_positive_integer_per_provider(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    (deployment, *_) = config.resolve_model("big-model").deployments
    assert deployment.max_reply_bytes == 1 << 20, "1 MiB unless told"
    capped = GOOD.replace("rpm = 60", "rpm = 60\nmax_reply_bytes = 4096")
    (deployment, *_) = load_config(_write(tmp_path, capped)).resolve_model("big-model").deployments
    assert deployment.max_reply_bytes == 4096
    for bad in ('"many"', "0", "true", "1.5"):
        text = GOOD.replace("rpm = 60", f"rpm = 60\nmax_reply_bytes = {bad}")
        with pytest.raises(ConfigError, match=r"providers\.gw\.max_reply_bytes must be"):
            load_config(_write(tmp_path, text))


def test_tool_index_is_a_path_beside_the_config(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, 'tool_index = "cache/tool_index.pkl"\n' + GOOD))
    assert config.tool_index == tmp_path / "cache" / "tool_index.pkl"
    assert load_config(_write(tmp_path, GOOD)).tool_index is None
    with pytest.raises(ConfigError, match="'tool_index' must be the path of a tool index pickle"):
        load_config(_write(tmp_path, "tool_index = 3\n" + GOOD))
