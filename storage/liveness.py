"""Who a process is, so a lease outlives pauses but not its holder, and never a reused pid.

A pid alone does not name a process: after its holder dies the kernel may hand the same number
to a new process, and after a reboot every number starts over. A holder is therefore named by
``ProcessIdentity``: its host name, the boot it runs in (Linux: ``/proc/sys/kernel/random/
boot_id``) and its pid with the process's start time (field 22 of ``/proc/<pid>/stat``, clock
ticks since boot). On this host and boot, a holder is alive exactly while a process with its pid
and start time exists: a process stopped with SIGSTOP is alive, one killed is not, and a new
process that got the old pid has another start time. No clock is compared, so pauses, suspends
and clocks set differently per process (``faketime``) change nothing.

Where ``/proc`` is missing (macOS), boot and start time are empty and liveness falls back to
"a process with this pid exists", which errs towards alive (a lease is kept, never stolen).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from runbench.storage.locking import pid_is_alive

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """One process, named so that neither pid reuse nor a reboot can be mistaken for it."""

    host: str
    boot: str
    pid: int
    started: str

    @classmethod
    def current(cls) -> ProcessIdentity:
        """This process (read each time: a forked child is another process)."""
        pid = os.getpid()
        return cls(socket.gethostname(), boot_id(), pid, start_time(pid))

    def shares_boot_with(self, other: ProcessIdentity) -> bool:
        """Same host, and (where known) the same boot: its liveness can be checked from here."""
        return self.host == other.host and (
            not self.boot or not other.boot or self.boot == other.boot
        )

    def is_alive(self) -> bool:
        """Whether this process still runs; ask only from a process that shares its boot.

        A paused (SIGSTOP) process is alive; a dead one is not, even if its pid was reused.
        """
        if not pid_is_alive(self.pid):
            return False
        if not self.started:
            return True  # no start time was recorded: the pid's existence is all we know
        now = start_time(self.pid)
        return not now or now == self.started


def boot_id() -> str:
    """This boot's id, or "" where the system does not say."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def start_time(pid: int) -> str:
    """When ``pid`` started, in clock ticks since boot, or "" (no such process, no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) is in parentheses and may hold spaces or ')': cut after the last
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""
