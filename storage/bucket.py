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

**Every request is bounded.** botocore's own timeouts bound each wait for a connection or a
byte, not a request, and a blocked call cannot be cancelled: a stopped server once held a run,
its ``--max-runtime`` and its SIGTERM for minutes. So each request runs in a daemon thread of
its own and the caller waits for it at most ``request_timeout_s`` (all attempts included; a
body adds its size at ``MIN_TRANSFER_BYTES_PER_S``); a request that overruns is abandoned
(daemon: it never holds the process at exit) and raises ``StoreNotAnswering``. Abandoning is
safe because every write here is idempotent or fenced: a part is created only if absent and
stays in the local cache until a create returns, and the claim book changes only by
compare-and-swap, so a late write lands like a killed writer's. Once the store has not
answered, the requests that follow for ``request_timeout_s`` fail at once with the same
error: a run's shutdown (drain, release, manifest, upload) then takes one bound, not one each.
A command that is stopping (SIGTERM, Ctrl-C, ``--max-runtime``) calls ``hurry``: from then on
a request, one in flight too, waits at most a short grace.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from runbench.config import ObjectStoreSettings
from runbench.errors import StoreError, StoreNotAnswering

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOST = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "OperationAborted"})
_LOST_STATUS = frozenset({409, 412})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_USERINFO = re.compile(r"//[^/@]*@")
# A body's transfer adds its size at this floor rate to a request's bound: 1 MiB/s, the slowest
# uplink a team store is expected on (a 20,000-row part is about 1 MB: 1 s more).
MIN_TRANSFER_BYTES_PER_S = 1 << 20
SILENCE_POLL_S = 0.25  # how soon a waiting request learns another found the store silent
_T = TypeVar("_T")


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
        self._client_lock = threading.Lock()
        self._silence = _Silence(settings.request_timeout_s)
        self._hurried: tuple[float, float] | None = None  # (since, grace_s): see hurry

    @property
    def client(self) -> S3Client:
        with self._client_lock:  # one client, made once, shared by every thread
            return self._client or self._make_client()

    def _make_client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        # Retries: the standard mode retries throttling, 5xx and timeouts with backoff;
        # conditional refusals (412/409) are answers and are never retried by botocore. Each
        # attempt may wait its share of the request's bound (_request enforces the whole).
        config = Config(
            retries={"mode": "standard", "max_attempts": self.settings.attempts},
            connect_timeout=self.settings.connect_timeout_s,
            read_timeout=self.settings.attempt_timeout_s,
            max_pool_connections=32,
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.settings.endpoint_url,
            region_name=self.settings.region or "us-east-1",
            aws_access_key_id=self.settings.access_key_id,
            aws_secret_access_key=self.settings.secret_access_key,
            aws_session_token=self.settings.session_token,
            config=config,
        )
        self._client = client
        return client

    # -- writes ------------------------------------------------------------------------------

    def create(self, name: str, data: bytes) -> str | None:
        """Write ``name`` only if it does not exist; its e-tag, or None when it already did."""
        with self._errors("create", name, lost_ok=True) as outcome:
            client, key = self.client, self._key(name)
            reply = self._request(
                lambda: client.put_object(
                    Bucket=self.settings.bucket, Key=key, Body=data, IfNoneMatch="*"
                ),
                carrying=len(data),
            )
            return str(reply["ETag"])
        return outcome.none()

    def replace(self, name: str, data: bytes, etag: str) -> str | None:
        """Replace ``name`` only if its e-tag is still ``etag``; the new e-tag, or None if lost."""
        with self._errors("replace", name, lost_ok=True, missing_ok=True) as outcome:
            client, key = self.client, self._key(name)
            reply = self._request(
                lambda: client.put_object(
                    Bucket=self.settings.bucket, Key=key, Body=data, IfMatch=etag
                ),
                carrying=len(data),
            )
            return str(reply["ETag"])
        return outcome.none()

    def put(self, name: str, data: bytes) -> None:
        """Write ``name`` unconditionally (run manifests and transcripts: the later write wins)."""
        with self._errors("write", name):
            client, key = self.client, self._key(name)
            self._request(
                lambda: client.put_object(Bucket=self.settings.bucket, Key=key, Body=data),
                carrying=len(data),
            )

    def delete(self, name: str, etag: str | None = None) -> bool:
        """Delete ``name`` (only if its e-tag is ``etag``, when given); False if that was lost."""
        with self._errors("delete", name, lost_ok=True, missing_ok=True) as outcome:
            client, key = self.client, self._key(name)
            if etag is None:
                self._request(lambda: client.delete_object(Bucket=self.settings.bucket, Key=key))
            else:
                self._request(
                    lambda: client.delete_object(Bucket=self.settings.bucket, Key=key, IfMatch=etag)
                )
            return True
        return outcome.none() is not None

    # -- reads -------------------------------------------------------------------------------

    def get(self, name: str) -> tuple[bytes, str] | None:
        """The bytes and e-tag of ``name``, or None when it does not exist.

        One bounded request for the head and the body: the bound grows by the size the head
        announces, so a large part on a slow link is read whole, a stalled one is not.
        """
        key = self._key(name)
        announced = _Announced()

        def fetch() -> tuple[bytes, str]:
            reply = self.client.get_object(Bucket=self.settings.bucket, Key=key)
            announced.size = int(reply.get("ContentLength") or 0)
            return reply["Body"].read(), str(reply["ETag"])

        with self._errors("read", name, missing_ok=True) as outcome:
            return self._request(fetch, carrying=announced)
        return outcome.none()

    def list(self, folder: str) -> list[Listed]:
        """Every object under ``folder/`` (relative names), in key order; one bound per page."""
        prefix = self._key(folder.rstrip("/") + "/")
        strip = len(self._key(""))
        found: list[Listed] = []
        with self._errors("list", folder):
            client = self.client
            token: str | None = None
            while True:
                page = self._request(functools.partial(self._list_page, client, prefix, token))
                for item in page.get("Contents", []):
                    found.append(Listed(item["Key"][strip:], int(item["Size"]), str(item["ETag"])))
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    break
        return found

    def _list_page(self, client: S3Client, prefix: str, token: str | None) -> Any:
        if token is None:
            return client.list_objects_v2(Bucket=self.settings.bucket, Prefix=prefix)
        return client.list_objects_v2(
            Bucket=self.settings.bucket, Prefix=prefix, ContinuationToken=token
        )

    def has_objects(self, folder: str) -> bool:
        """Whether anything is stored under ``folder/`` (one request)."""
        with self._errors("list", folder):
            client, prefix = self.client, self._key(folder.rstrip("/") + "/")
            reply = self._request(
                lambda: client.list_objects_v2(
                    Bucket=self.settings.bucket, Prefix=prefix, MaxKeys=1
                )
            )
            return bool(reply.get("KeyCount", 0))
        return False

    def check_bucket(self) -> None:
        """Prove the bucket exists and the credentials reach it (one request).

        Raises:
            StoreError: no such bucket, access refused, endpoint unreachable.
            StoreNotAnswering: the endpoint took no reply within ``request_timeout_s``.
        """
        with self._errors("open", ""):
            client = self.client
            self._request(lambda: client.head_bucket(Bucket=self.settings.bucket))

    # -- plumbing ----------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self.settings.key(name)

    def hurry(self, grace_s: float) -> None:
        """From now on, a request (one in flight too) waits at most ``grace_s`` (plus its body).

        The command is stopping (SIGTERM, Ctrl-C, ``--max-runtime``): on a live store its last
        requests take milliseconds; on a hung one they must not take a whole bound.
        """
        self._hurried = (time.monotonic(), grace_s)

    def _request(self, call: Callable[[], _T], *, carrying: int | _Announced = 0) -> _T:
        """Run one request in a daemon thread and wait for it at most its bound.

        ``carrying`` is the size of its body, or where the request announces it once known.

        Raises:
            StoreNotAnswering: no reply within the bound, or the store had not answered
                another request within the last bound (then at once).
            Exception: whatever the request raised (``_errors`` maps botocore's).
        """
        self._silence.check(self.url)
        started = time.monotonic()
        request = _Request(call)
        thread = threading.Thread(target=request.run, name="runbench-s3-request", daemon=True)
        thread.start()
        # wait in slices: the bound grows once a body's size is announced, and once another
        # request has found the store silent this one stops waiting too
        while not request.done.wait(SILENCE_POLL_S):
            size = carrying if isinstance(carrying, int) else carrying.size
            transfer = size / MIN_TRANSFER_BYTES_PER_S
            ends = started + self.settings.request_timeout_s + transfer
            if self._hurried is not None:
                since, grace_s = self._hurried
                ends = min(ends, max(started, since) + grace_s + transfer)
            if time.monotonic() >= ends or self._silence.began_after(started):
                raise self._silence.began(self.url, started)
        if request.error is not None:
            if _is_silence(request.error):
                raise self._silence.began(self.url, started) from None
            raise request.error
        self._silence.ended()
        return request.value  # type: ignore[return-value]

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


class _Announced:
    """The size of a reply's body, once its head has said it (0 until then)."""

    size = 0


class _Request:
    """One request's call, run in its own thread: its value or its error, and when it ended."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.call = call
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.call()
        except BaseException as error:  # handed to the waiting caller, which raises it
            self.error = error
        finally:
            self.done.set()


class _Silence:
    """Since when the store has not answered; requests within a bound of that fail at once.

    A command's last requests (a run's drain, release, manifest, upload) would otherwise wait a
    full bound each on a store that just proved dead; after one bound a request may try again,
    so a long-lived reader (the viewer) sees the store come back.
    """

    def __init__(self, bound_s: float) -> None:
        self.bound_s = bound_s
        self._lock = threading.Lock()
        self._since: float | None = None  # when the first unanswered request was sent
        self._until = 0.0  # requests fail at once until then

    def check(self, url: str) -> None:
        with self._lock:
            since, until = self._since, self._until
        if since is not None and time.monotonic() < until:
            raise _not_answering(url, since)

    def began_after(self, started: float) -> bool:
        """Whether a request found the store silent after ``started`` (so it was silent then)."""
        with self._lock:
            return self._since is not None and self._until - self.bound_s >= started

    def began(self, url: str, started: float) -> StoreNotAnswering:
        with self._lock:
            if self._since is None or started < self._since:
                self._since = started
            self._until = time.monotonic() + self.bound_s
            since = self._since
        return _not_answering(url, since)

    def ended(self) -> None:
        with self._lock:
            self._since = None
            self._until = 0.0


def _not_answering(url: str, since: float) -> StoreNotAnswering:
    waited = max(1, round(time.monotonic() - since))
    return StoreNotAnswering(
        f"store at {url} not answering for {waited} s",
        hint=(
            "check AWS_ENDPOINT_URL and the network, then run the same command again (a run's "
            "finished rows wait in this machine's cache folder and are uploaded then)"
        ),
    )


def _is_silence(error: BaseException) -> bool:
    """Whether botocore gave up waiting (timeouts, a refused or dropped connection)."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    return isinstance(
        error,
        (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError),
    )


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
