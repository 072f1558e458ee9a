"""When a lease kept in a bucket has ended, decided without comparing two machines' clocks.

An object store has no process to watch, so a lease object carries who holds it (host, boot,
pid and start time: ``liveness.ProcessIdentity``) and a **beat**: a fresh random token the
holder writes with every claim and renewal (compare-and-swap, ``If-Match``). Whoever wants the
lease decides from what it can see itself:

* a holder on this host and boot is alive exactly while its process is (a paused one keeps its
  lease however long it sleeps; a killed one frees it at once);
* a holder on another host is **silent** once its beat has stayed the same for the lease's
  length, measured on the *observer's* monotonic clock from the first time it saw that beat.
  Only then may the observer take the lease over, again with ``If-Match`` against the object it
  read, so a renewal in between makes the takeover lose (412/409).

No expiry time is written and no two clocks are compared: the rule holds if the hosts' clocks
run at the same *rate*, whatever they read (NTP off, ``faketime``, a host hours behind). The
holder may trust its lease without a request for the lease's length, less a margin, counted on
its own monotonic clock from before its last successful write: a taker has to watch the beat
that write left for at least that long.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from pathlib import Path

from runbench.storage.bucket import Bucket
from runbench.storage.durable import atomic_write
from runbench.storage.liveness import ProcessIdentity

COMPACT_LEASE = "parquet/compact.lease"
TRUST_MARGIN_S = 1.0  # a holder stops trusting its lease this long before a taker could act


def new_beat() -> str:
    """A token nobody wrote before: a holder's proof of life in one write."""
    return secrets.token_hex(8)


def holder_fields(identity: ProcessIdentity) -> dict[str, str | int]:
    """The identity of a lease's holder, as written into the lease."""
    return {
        "host": identity.host,
        "boot": identity.boot,
        "pid": identity.pid,
        "started": identity.started,
    }


def holder_of(raw: dict[str, object]) -> ProcessIdentity:
    """The holder named by a lease (missing fields read as unknown).

    Raises:
        ValueError, TypeError: the fields are not what a lease holds.
    """
    return ProcessIdentity(
        host=str(raw.get("host", "")),
        boot=str(raw.get("boot", "")),
        pid=int(str(raw.get("pid", 0))),
        started=str(raw.get("started", "")),
    )


def trusted_until(written_at: float, lease_s: float) -> float:
    """Until when (this process's monotonic clock) a lease written at ``written_at`` is safe."""
    return written_at + max(0.0, lease_s - min(TRUST_MARGIN_S, lease_s / 2))


class Watcher:
    """The beats this host has seen, each with the monotonic time it first saw it.

    With a ``path`` (a file in the store's local cache folder) what one process saw is kept for
    the next runbench command on this host: the monotonic clock is the host's, one count since
    boot shared by every process, so a beat first seen by an earlier command has been unchanged
    at least that long. Without it, a run shorter than the lease could never see a silent holder
    go silent, and the tests a lost machine held would stay claimed for every short run. The
    file is only ever a lower bound on how long a beat stood still: an entry lost to two
    processes writing at once is seen again later, which waits longer, never less.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._seen: dict[str, tuple[str, float]] = self._load()

    def state(self, key: str, holder: ProcessIdentity, beat: str, lease_s: float) -> str:
        """``live``, ``dead`` (this host, process gone) or ``silent`` (see the module)."""
        me = ProcessIdentity.current()
        if holder.host == me.host:
            alive = holder.shares_boot_with(me) and holder.is_alive()
            return "live" if alive else "dead"
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is None or seen[0] != beat:
            self._seen[key] = (beat, now)
            self._save()
            return "live"
        return "silent" if now - seen[1] >= lease_s else "live"

    def forget_except(self, keys: set[str]) -> None:
        """Drop what was seen of leases that are gone (the book stays the only record)."""
        gone = set(self._seen) - keys
        for key in gone:
            del self._seen[key]
        if gone:
            self._save()

    def _load(self) -> dict[str, tuple[str, float]]:
        """What earlier commands on this host and boot saw; nothing if unreadable or stale."""
        if self._path is None:
            return {}
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            if raw.get("boot") != ProcessIdentity.current().boot or not raw.get("boot"):
                return {}  # another boot: its monotonic times mean nothing now
            now = time.monotonic()
            return {
                str(key): (str(beat), float(first))
                for key, (beat, first) in raw["seen"].items()
                if float(first) <= now
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}

    def _save(self) -> None:
        """Keep what was seen for the next command; a failed write only means waiting longer."""
        if self._path is None:
            return
        document = {"boot": ProcessIdentity.current().boot, "seen": self._seen}
        with contextlib.suppress(OSError):
            atomic_write(self._path, json.dumps(document).encode())


class CompactionLease:
    """The one compaction of an object store at a time: an object with a beat in it."""

    def __init__(self, bucket: Bucket, lease_s: float, watcher: Watcher | None = None) -> None:
        self.bucket = bucket
        self.lease_s = lease_s
        self.watcher = watcher or Watcher()
        self._etag: str | None = None

    def acquire(self) -> bool:
        """Take the lease if nobody holds a live one; False when another compaction does.

        Call it again (e.g. once a second) to wait: a holder on another host that stops
        renewing is taken over once this process has seen its beat unchanged for ``lease_s``.
        """
        data = self._payload()
        etag = self.bucket.create(COMPACT_LEASE, data)
        if etag is None:
            found = self.bucket.get(COMPACT_LEASE)
            if found is None:  # released meanwhile: try once more from the start
                etag = self.bucket.create(COMPACT_LEASE, data)
            elif self._ended(found[0]):
                etag = self.bucket.replace(COMPACT_LEASE, data, found[1])
        self._etag = etag
        return etag is not None

    def renew(self) -> bool:
        """Write a fresh beat; False if the lease was taken over (the compaction must stop)."""
        if self._etag is None:
            return False
        self._etag = self.bucket.replace(COMPACT_LEASE, self._payload(), self._etag)
        return self._etag is not None

    def release(self) -> None:
        if self._etag is not None:
            self.bucket.delete(COMPACT_LEASE, self._etag)
            self._etag = None

    def _payload(self) -> bytes:
        fields = holder_fields(ProcessIdentity.current())
        return json.dumps({**fields, "lease_s": self.lease_s, "beat": new_beat()}).encode()

    def _ended(self, data: bytes) -> bool:
        try:
            raw = json.loads(data.decode("utf-8"))
            holder, beat = holder_of(raw), str(raw["beat"])
            lease_s = float(raw.get("lease_s", self.lease_s))
        except (ValueError, TypeError, KeyError, AttributeError):
            return True  # not a lease anyone wrote whole: take it over
        return self.watcher.state(COMPACT_LEASE, holder, beat, lease_s) != "live"
