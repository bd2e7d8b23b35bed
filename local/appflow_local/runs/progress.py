"""A one-line progress display on stderr while the runtime drives the functions."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from appflow_local.emulator.function_runtime import Invocation
from appflow_local.emulator.runtime import RunSummary


class ProgressLine:
    """Rewrites one status line on a terminal; elsewhere prints one line every ``interval`` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.1 if self.tty else interval
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, invocation: Invocation, summary: RunSummary) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._show(summary)

    def _show(self, summary: RunSummary) -> None:
        calls = " ".join(f"{name.removesuffix('Function').lower()}×{n}" for name, n in summary.invocations.items())
        failed = sum(summary.failed_invocations.values())
        text = (
            f"{time.monotonic() - self.started:6.1f}s  {calls} | read {summary.count('read'):,} "
            f"written {summary.count('written'):,} stale {summary.count('stale'):,} "
            f"quarantined {summary.count('quarantined'):,} | events {summary.count('events_published'):,}"
            + (f" | FAILED {failed}" if failed else "")
        )
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    def finish(self, summary: RunSummary) -> None:
        """Show the final state (and end the terminal line)."""
        self._show(summary)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
