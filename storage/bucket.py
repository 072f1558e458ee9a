"""One S3 bucket prefix as the object store sees it: plain and conditional writes, reads, lists.

Everything the object store promises rests on two conditional writes (RFC 9110 preconditions,
honoured by S3 since 2024 and by MinIO, Ceph and moto): ``If-None-Match: *`` creates a key only
if it is absent, and ``If-Match: <etag>`` replaces it only if nobody changed it since it was
read. Either refusal comes back as 412 Precondition Failed, or 409 Conflict when two requests
race for one key; both mean "lost", and this module answers them as ``None`` rather than an
error, because losing a race is an outcome the caller plans for.

boto3 is the client: it sends both preconditions (``IfNoneMatch`` / ``IfMatch`` on
``put_object`` and ``delete_object``), reads the standard AWS variables through the settings it
is given, is thread-safe per client and synchronous like the ``Store`` protocol. pyarrow's own
S3 file system cannot send preconditions, so it is not used for writing.

Every other failure (no such bucket, credentials refused, endpoint unreachable) becomes a
``StoreError`` of one line that names the store URL and never a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbench.config import ObjectStoreSettings
from runbench.errors import StoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOST = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "OperationAborted"})
_LOST_STATUS = frozenset({409, 412})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_USERINFO = re.compile(r"//[^/@]*@")


@dataclass(frozen=True, slots=True)
class Listed:
    """One object of a listing: its key relative to the store prefix, size and e-tag."""

    name: str
    size: int
    etag: str


class Bucket:
    """The objects under one store's prefix (``settings.prefix``) in one bucket."""

    def __init__(self, settings: ObjectStoreSettings) -> None:
        self.settings = settings
        self.url = settings.url
        self._client: S3Client | None = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Retries: the standard mode retries throttling and 5xx with backoff; conditional
            # refusals (412/409) are answers and are never retried by botocore.
            config = Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=10,
                read_timeout=60,
                max_pool_connections=32,
            )
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.settings.endpoint_url,
                region_name=self.settings.region or "us-east-1",
                aws_access_key_id=self.settings.access_key_id,
                aws_secret_access_key=self.settings.secret_access_key,
                aws_session_token=self.settings.session_token,
                config=config,
            )
        return self._client

    # -- writes ------------------------------------------------------------------------------

    def create(self, name: str, data: bytes) -> str | None:
        """Write ``name`` only if it does not exist; its e-tag, or None when it already did."""
        with self._errors("create", name, lost_ok=True) as outcome:
            reply = self.client.put_object(
                Bucket=self.settings.bucket, Key=self._key(name), Body=data, IfNoneMatch="*"
            )
            return str(reply["ETag"])
        return outcome.none()

    def replace(self, name: str, data: bytes, etag: str) -> str | None:
        """Replace ``name`` only if its e-tag is still ``etag``; the new e-tag, or None if lost."""
        with self._errors("replace", name, lost_ok=True, missing_ok=True) as outcome:
            reply = self.client.put_object(
                Bucket=self.settings.bucket, Key=self._key(name), Body=data, IfMatch=etag
            )
            return str(reply["ETag"])
        return outcome.none()

    def put(self, name: str, data: bytes) -> None:
        """Write ``name`` unconditionally (run manifests and transcripts: the later write wins)."""
        with self._errors("write", name):
            self.client.put_object(Bucket=self.settings.bucket, Key=self._key(name), Body=data)

    def delete(self, name: str, etag: str | None = None) -> bool:
        """Delete ``name`` (only if its e-tag is ``etag``, when given); False if that was lost."""
        with self._errors("delete", name, lost_ok=True, missing_ok=True) as outcome:
            if etag is None:
                self.client.delete_object(Bucket=self.settings.bucket, Key=self._key(name))
            else:
                self.client.delete_object(
                    Bucket=self.settings.bucket, Key=self._key(name), IfMatch=etag
                )
            return True
        return outcome.none() is not None

    # -- reads -------------------------------------------------------------------------------

    def get(self, name: str) -> tuple[bytes, str] | None:
        """The bytes and e-tag of ``name``, or None when it does not exist."""
        with self._errors("read", name, missing_ok=True) as outcome:
            reply = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(name))
            return reply["Body"].read(), str(reply["ETag"])
        return outcome.none()

    def list(self, folder: str) -> list[Listed]:
        """Every object under ``folder/`` (relative names), in key order."""
        prefix = self._key(folder.rstrip("/") + "/")
        strip = len(self._key(""))
        found: list[Listed] = []
        with self._errors("list", folder):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(Listed(item["Key"][strip:], int(item["Size"]), str(item["ETag"])))
        return found

    def has_objects(self, folder: str) -> bool:
        """Whether anything is stored under ``folder/`` (one request)."""
        with self._errors("list", folder):
            reply = self.client.list_objects_v2(
                Bucket=self.settings.bucket, Prefix=self._key(folder.rstrip("/") + "/"), MaxKeys=1
            )
            return bool(reply.get("KeyCount", 0))
        return False

    def check_bucket(self) -> None:
        """Prove the bucket exists and the credentials reach it (one request).

        Raises:
            StoreError: no such bucket, access refused, endpoint unreachable.
        """
        with self._errors("open", ""):
            self.client.head_bucket(Bucket=self.settings.bucket)

    # -- plumbing ----------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self.settings.key(name)

    @contextmanager
    def _errors(
        self, doing: str, name: str, *, lost_ok: bool = False, missing_ok: bool = False
    ) -> Iterator[_Outcome]:
        """Map client errors: lost races and missing keys to ``None``, the rest to one line."""
        from botocore.exceptions import BotoCoreError, ClientError

        outcome = _Outcome()
        where = f"{self.url}/{name}" if name else self.url
        try:
            yield outcome
        except ClientError as error:
            code, status = _code(error)
            if lost_ok and (code in LOST or status in _LOST_STATUS):
                outcome.lost = True
                return
            if missing_ok and (code in _MISSING or status == 404):
                outcome.lost = True
                return
            raise StoreError(
                f"cannot {doing} {where}: {_reason(code, status)}", hint=_hint(code)
            ) from None
        except BotoCoreError as error:
            text = _USERINFO.sub("//***@", str(error).splitlines()[0] if str(error) else "")
            raise StoreError(
                f"cannot {doing} {where}: {type(error).__name__}: {text}"[:300],
                hint="check AWS_ENDPOINT_URL and the network; run the same command again",
            ) from None


class _Outcome:
    """Whether the guarded call was answered with a lost race (or a missing key)."""

    lost = False

    def none(self) -> None:
        return None


def _code(error: Any) -> tuple[str, int]:
    response = getattr(error, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _reason(code: str, status: int) -> str:
    reasons = {
        "NoSuchBucket": "the bucket does not exist",
        "AccessDenied": "access denied",
        "InvalidAccessKeyId": "the access key is not known to this endpoint",
        "SignatureDoesNotMatch": "the secret key does not match the access key",
        "ExpiredToken": "the session token has expired",
    }
    if code in reasons:
        return reasons[code]
    if status == 404 and code in ("404", "NotFound", ""):
        return "the bucket does not exist"
    if status == 403:
        return "access denied"
    return f"{code or 'error'} (HTTP {status})"


def _hint(code: str) -> str | None:
    if code in ("NoSuchBucket", "404", "NotFound"):
        return "create the bucket first (runbench never creates buckets), or fix the URL"
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
        return "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL)"
    return None
