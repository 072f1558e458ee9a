"""Group commit: many threads' appends become one write and one fsync.

Each thread that appends queues its bytes. If no flush is running, it becomes the leader: it
takes everything queued so far, writes and syncs it in one go, then wakes the others, whose bytes
went out in that same batch. While a leader syncs, new appends queue up behind it and form the
next batch. No thread returns before its bytes are durable, and a failed flush fails every append
in its batch, so nobody is told "saved" for data that was not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Pending:
    payload: bytes
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Serialises flushes of one sink and batches the appends that arrive during a flush."""

    def __init__(self, flush: Callable[[bytes], None]) -> None:
        self._flush = flush
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._leader_active = False

    def commit(self, payload: bytes) -> None:
        """Return once ``payload`` is flushed; raise what the flush of its batch raised."""
        pending = _Pending(payload)
        with self._cond:
            self._queue.append(pending)
            while not pending.done and self._leader_active:
                self._cond.wait()
            if pending.done:
                if pending.error is not None:
                    raise pending.error
                return
            self._leader_active = True
            batch, self._queue = self._queue, []
        error: BaseException | None = None
        try:
            self._flush(b"".join(item.payload for item in batch))
        except BaseException as exc:
            error = exc
        with self._cond:
            for item in batch:
                item.done = True
                item.error = error
            self._leader_active = False
            self._cond.notify_all()
        if error is not None:
            raise error

    def exclusive(self, action: Callable[[], T]) -> T:
        """Run ``action`` while no flush runs and none can start (e.g. to seal and close)."""
        with self._cond:
            while self._leader_active:
                self._cond.wait()
            self._leader_active = True
        try:
            return action()
        finally:
            with self._cond:
                self._leader_active = False
                self._cond.notify_all()
