"""The live progress view: a rich table on a terminal, a plain line every few seconds otherwise.

It is fed ``ProgressSnapshot`` values — from the run's summary, or from ultra-parallel's shards
through their pipes — and always shows the last picture when it closes, so the final counts are
on screen (or in the log) whatever the timing.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from runbench.cli.output import stderr, stderr_line

if TYPE_CHECKING:
    from runbench.runners.progress import ProgressSnapshot
    from runbench.runners.session import RunSummary

PLAIN_INTERVAL_S = 5.0


class ProgressView:
    """Shows progress unless quiet; a context manager around the run."""

    def __init__(self, quiet: bool) -> None:
        from rich.live import Live

        self.quiet = quiet
        self.live: Live | None = None
        if not quiet and stderr.is_terminal:
            self.live = Live(console=stderr, refresh_per_second=4, transient=True)
        self.last_line = 0.0
        self.latest: ProgressSnapshot | None = None

    def __enter__(self) -> ProgressView:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.live is not None:
            self.live.stop()
        if not self.quiet and self.latest is not None and self.latest.ended:
            self._print_line(self.latest)

    def show(self, snapshot: ProgressSnapshot) -> None:
        from runbench.cli.tables import progress_table

        self.latest = snapshot
        if self.quiet:
            return
        if self.live is not None:
            self.live.update(progress_table(snapshot))
            return
        now = time.monotonic()
        if now - self.last_line >= PLAIN_INTERVAL_S and snapshot.ended:
            self.last_line = now
            self._print_line(snapshot)

    def of_summary(self, summary: RunSummary) -> None:
        """The engine's progress callback: a snapshot of its summary."""
        from runbench.runners.progress import snapshot_of

        self.show(snapshot_of(summary))

    def _print_line(self, snapshot: ProgressSnapshot) -> None:
        from runbench.cli.tables import progress_line

        stderr_line(progress_line(snapshot))
