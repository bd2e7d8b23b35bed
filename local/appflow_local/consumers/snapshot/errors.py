"""What stops a snapshot: a mistake to fix (SnapshotError) or an interruption to resume from."""

from __future__ import annotations


class SnapshotError(Exception):
    """A snapshot cannot start or go on: the message says what is wrong and what to do."""


class SnapshotInterrupted(SnapshotError):
    """Stopped before the end (Ctrl-C, or asked to); the checkpoint holds everything delivered."""
