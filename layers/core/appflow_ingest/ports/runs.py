"""Ports of the run ledger: files and chunks counted per AppFlow execution, AppFlow's reports, the settlement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from appflow_ingest.domain.landing.chunks import Chunk, HandOver, LandedObject
from appflow_ingest.domain.landing.keys import LandingKey
from appflow_ingest.domain.runs.ledger import RunState
from appflow_ingest.domain.runs.reports import FlowRunReport


class FinishedChunk(Protocol):
    """What the ingest path reports for a chunk (its record counts and where it handed over)."""

    read: int
    written: int
    stale: int
    quarantined: int
    handed_over_at: int | None


class RunFiles(Protocol):
    """The run ledger's file side, told by the planner (services.track_runs.RunTracker)."""

    def file_planned(self, obj: LandedObject, landing: LandingKey, chunks: int) -> None:
        """Count a planned file of its run and the chunks it was cut into, once."""
        ...


class RunChunks(Protocol):
    """The run ledger's chunk side, told by the ingest path (services.track_runs.RunTracker)."""

    def chunk_finished(self, chunk: Chunk, report: FinishedChunk) -> bool:
        """Count a finished chunk and its records in its run; False if it was counted before."""
        ...

    def recorded_hand_over(self, chunk: Chunk) -> HandOver | None:
        """Where an earlier invocation of this chunk handed over, if one did."""
        ...

    def hand_over(self, chunk: Chunk, at: HandOver) -> HandOver:
        """Record a hand-over before its remainder is queued; the first writer's offset wins."""
        ...


class RunLedger(Protocol):
    """The ledger's storage: counts per run, counted once per file and chunk, and the settlement published."""

    def file_planned(self, execution_id: str, flow_name: str | None, file_id: str, chunks: int) -> bool:
        """Count a file and its chunks; False if this file was counted before."""
        ...

    def chunk_finished(
        self, execution_id: str, flow_name: str | None, chunk_id: str, counts: Mapping[str, int]
    ) -> bool:
        """Add a chunk's counts; False if this chunk was counted before."""
        ...

    def hand_over(
        self,
        execution_id: str,
        flow_name: str | None,
        chunk_id: str,
        offset: int,
        row: int,
        reingestion: str | None = None,
    ) -> tuple[int, int]:
        """Record a hand-over (first writer wins); return the one recorded."""
        ...

    def hand_over_of(self, execution_id: str, chunk_id: str, reingestion: str | None = None) -> tuple[int, int] | None:
        """The hand-over recorded for a chunk, if any."""
        ...

    def reingested_chunk_finished(
        self, execution_id: str, reingestion: str, chunk_id: str, counts: Mapping[str, int]
    ) -> bool:
        """Add a re-ingested chunk's counts to its re-ingestion; False if counted before."""
        ...

    def record_report(self, report: FlowRunReport) -> None:
        """Keep AppFlow's Start or End report of a run."""
        ...

    def read(self, execution_id: str) -> RunState:
        """The run as the ledger holds it."""
        ...

    def mark_published(self, execution_id: str, signature: str, outcome: str, reasons: list[str]) -> None:
        """Remember that this settlement was published."""
        ...
