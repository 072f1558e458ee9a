"""Fixtures of the object-store tests: one moto server per session, a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbench.config import ObjectStoreSettings, object_store_settings
from tests.fakes.s3_server import HeaderStripper, MotoServer, start_moto


@dataclass(frozen=True)
class S3:
    """One test's bucket on the session's moto server, with the environment that reaches it."""

    endpoint: str
    bucket: str
    cache: Path

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/team"

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-value",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            "RUNBENCH_CACHE": str(self.cache),
        }

    def settings(self, cache: Path | None = None) -> ObjectStoreSettings:
        env = self.env()
        if cache is not None:
            env["RUNBENCH_CACHE"] = str(cache)
        return object_store_settings(self.url, "test", env)

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret-value",
            region_name="us-east-1",
        )

    def dataset(self):  # type: ignore[no-untyped-def]
        """The store's parts as an outside reader sees them: a pyarrow dataset on the bucket."""
        import pyarrow.dataset as ds
        from pyarrow import fs

        s3fs = fs.S3FileSystem(
            endpoint_override=self.endpoint,
            access_key="testing",
            secret_key="testing-secret-value",
            region="us-east-1",
            scheme="http",
        )
        return ds.dataset(f"{self.bucket}/team/parquet/parts", filesystem=s3fs, format="parquet")

    def keys(self, folder: str) -> list[str]:
        reply = self.client().list_objects_v2(Bucket=self.bucket, Prefix=f"team/{folder}/")
        return [item["Key"] for item in reply.get("Contents", [])]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = start_moto()
    yield server
    server.close()


@pytest.fixture
def s3(moto_server: MotoServer, tmp_path: Path) -> S3:
    made = S3(moto_server.url, f"rb-{uuid.uuid4().hex[:12]}", tmp_path / "cache")
    made.client().create_bucket(Bucket=made.bucket)
    return made


@pytest.fixture
def careless_s3(moto_server: MotoServer, tmp_path: Path) -> Iterator[S3]:
    """A bucket behind a proxy that drops If-None-Match and If-Match (a careless look-alike)."""
    proxy = HeaderStripper(moto_server.url)
    made = S3(proxy.url, f"rb-{uuid.uuid4().hex[:12]}", tmp_path / "careless-cache")
    made.client().create_bucket(Bucket=made.bucket)
    yield made
    proxy.close()
