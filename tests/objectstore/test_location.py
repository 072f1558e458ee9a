"""Where ``--store s3://…`` leads: parsed and checked in ``runbench/config.py`` (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbench.config import resolve_store_location
from runbench.errors import UsageError

ENV = {
    "AWS_ENDPOINT_URL": "https://minio.example:9000",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "very-secret-value",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "RUNBENCH_CACHE": "/var/cache/rb",
}


def test_an_s3_store_is_the_parquet_store_with_the_standard_variables() -> None:
    location = resolve_store_location(None, "s3://bars/team/", ENV)
    assert location.format == "parquet"
    remote = location.remote
    assert remote is not None
    assert (remote.url, remote.bucket, remote.prefix) == ("s3://bars/team", "bars", "team")
    assert remote.endpoint_url == "https://minio.example:9000"
    assert remote.region == "eu-west-1"
    assert remote.access_key_id == "AKIDEXAMPLE"
    assert remote.cache == Path("/var/cache/rb/s3/bars/team") == location.root
    assert "very-secret-value" not in repr(location)
    assert remote.key("parquet/parts/x") == "team/parquet/parts/x"
    assert location.describe() == "s3://bars/team"


def test_runbench_store_may_name_a_bucket_and_aws_region_wins() -> None:
    env = {**ENV, "RUNBENCH_STORE": "s3://bars", "AWS_REGION": "us-east-2"}
    location = resolve_store_location("parquet", None, env)
    assert location.remote is not None and location.remote.prefix == ""
    assert location.remote.region == "us-east-2"
    assert location.remote.key("parquet/x") == "parquet/x"


def test_a_url_folded_by_path_is_still_a_url() -> None:
    location = resolve_store_location(None, Path("s3://bars/team"), ENV)
    assert location.remote is not None and location.remote.url == "s3://bars/team"


def test_a_local_folder_stays_a_folder() -> None:
    location = resolve_store_location(None, "results/s3-copy", ENV)
    assert location.remote is None and location.root == Path("results/s3-copy")


@pytest.mark.parametrize(
    ("store", "storage", "env", "says"),
    [
        ("gs://bars/team", None, {}, "unsupported store URL scheme 'gs://' from --store"),
        ("s3:///team", None, {}, "names no bucket"),
        ("s3://Bars_Upper/team", None, {}, "not a valid S3 bucket name"),
        ("s3://bars/../../../escaped", None, {}, "an empty, '.' or '..' part"),
        ("s3://bars/../other-bucket/x", None, {}, "an empty, '.' or '..' part"),
        ("s3://bars/a//b", None, {}, "an empty, '.' or '..' part"),
        ("s3://bars/./a", None, {}, "an empty, '.' or '..' part"),
        ("s3://bars/team", "json", {}, "a JSON store cannot live on an object store"),
        ("s3://bars", None, {"AWS_ENDPOINT_URL": "http://10.0.0.1:9000"}, "AWS_ALLOW_HTTP"),
        ("s3://bars", None, {"RUNBENCH_UPLOAD_ROWS": "0"}, "RUNBENCH_UPLOAD_ROWS must be"),
        ("s3://bars", None, {"RUNBENCH_S3_TIMEOUT": "-1"}, "RUNBENCH_S3_TIMEOUT must be"),
        ("s3://bars", None, {"RUNBENCH_S3_ATTEMPTS": "0"}, "RUNBENCH_S3_ATTEMPTS must be"),
        ("s3://bars", None, {"RUNBENCH_S3_ATTEMPTS": "100000"}, "RUNBENCH_S3_ATTEMPTS must be"),
        ("s3://bars", None, {"RUNBENCH_UPLOAD_ROWS": "0.5"}, "RUNBENCH_UPLOAD_ROWS must be"),
        ("s3://bars", None, {"RUNBENCH_S3_ATTEMPTS": "2.5"}, "RUNBENCH_S3_ATTEMPTS must be"),
        ("s3://bars", None, {"RUNBENCH_S3_ATTEMPTS": "\u00b2"}, "RUNBENCH_S3_ATTEMPTS must be"),
        ("s3://bars", None, {"RUNBENCH_S3_TIMEOUT": "inf"}, "RUNBENCH_S3_TIMEOUT must be"),
        ("s3://bars", None, {"RUNBENCH_S3_TIMEOUT": "1e308"}, "RUNBENCH_S3_TIMEOUT must be"),
        ("s3://bars", None, {"RUNBENCH_UPLOAD_ROWS": "1e400"}, "RUNBENCH_UPLOAD_ROWS must be"),
        ("s3://bars", None, {"STORAGE_FORMAT": "json"}, "json from STORAGE_FORMAT"),
    ],
)
def test_what_cannot_be_an_object_store_is_refused(
    store: str, storage: str | None, env: dict[str, str], says: str
) -> None:
    with pytest.raises(UsageError, match=says.replace("(", r"\(")) as caught:
        resolve_store_location(storage, store, env)
    assert "\n" not in caught.value.message


def test_plain_http_is_allowed_when_asked() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true"}
    location = resolve_store_location(None, "s3://bars", env)
    assert location.remote is not None and location.remote.allow_http


def test_each_bucket_request_is_bounded_by_the_timeout_shared_by_its_attempts() -> None:
    default = resolve_store_location(None, "s3://bars", {}).remote
    assert default is not None
    assert (default.request_timeout_s, default.attempts) == (30.0, 3)
    assert (default.attempt_timeout_s, default.connect_timeout_s) == (10.0, 5.0)
    told = {"RUNBENCH_S3_TIMEOUT": "2", "RUNBENCH_S3_ATTEMPTS": "4"}
    short = resolve_store_location(None, "s3://bars", told).remote
    assert short is not None
    assert (short.attempt_timeout_s, short.connect_timeout_s) == (0.5, 0.5)
