"""Keep every member's aggregate and wallet pass equal to what the latest version of every record gives.

Runs on the entity table's stream. For each changed member, purchase or promotion record it
moves that record's contribution: out of the member it counted for (the stored contribution)
and into the member it counts for now (the new version), in one transaction with the new
contribution. Why this is exact whatever AppFlow and Lambda do:

- duplicates, retries, replays and out-of-order deliveries: a contribution item holds the
  version it was computed from; an equal or older version changes nothing;
- re-parenting (a purchase moved to another member): the old member loses exactly what the
  stored contribution gave it, the new one gains the new contribution, atomically;
- a purchase before its member: the aggregate exists without a member record (status
  ``inactive``, no event) until the member arrives;
- two workers on one member: each pass item is written conditioned on the revision it was read
  at, so the loser's transaction is cancelled, and it reads again and recomputes.

The pass is derived inside the same transaction, so it can never lag its aggregate; the
publisher turns a changed pass on the derived table's stream into one ``MemberPass Changed``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit

from appflow_ingest.domain.records.body_codec import record_of_image
from appflow_ingest.domain.wallet import (
    Aggregate,
    Contribution,
    WalletConfig,
    contribution_of,
    derive_pass,
    next_change,
)
from appflow_ingest.observability import logger, metrics
from appflow_ingest.ports.wallet import ContributionWrite, PassWrite, StoredContribution, StoredPass, WalletStore
from appflow_ingest.services.stream_records import stream_records

MAX_TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems


class SourceVersion(NamedTuple):
    """A new version of a source record and what it contributes."""

    source_key: str  # the entity key, <Object>#<Id>
    version: int
    contribution: Contribution


class AggregationConflict(RuntimeError):
    """Other writers kept winning on the same items; the stream batch is retried."""


@dataclass
class AggregationReport:
    """What a stream batch did to the wallet: changes seen, applied, stale, retries and passes written."""

    changes: int = 0
    applied: int = 0
    stale: int = 0  # equal or older than the contribution already counted
    retries: int = 0
    passes_written: set[str] = field(default_factory=set)


def utc_today() -> date:
    """Today in UTC (the day a pass is derived for)."""
    return datetime.now(UTC).date()


class WalletAggregator:
    """Moves each source record's contribution between members and derives their passes, in one transaction."""

    def __init__(
        self,
        store: WalletStore,
        config: WalletConfig,
        *,
        today: Callable[[], date] = utc_today,
        max_attempts: int = 12,
        backoff_seconds: float = 0.02,
    ) -> None:
        self._store = store
        self.config = config
        self._today = today
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds

    def apply(self, changes: Iterable[SourceVersion]) -> AggregationReport:
        """Apply the newest version of each source record; raises ``AggregationConflict`` when races keep being lost."""
        report = AggregationReport()
        newest: dict[str, SourceVersion] = {}
        for change in changes:
            report.changes += 1
            current = newest.get(change.source_key)
            if current is None or change.version > current.version:
                newest[change.source_key] = change
        report.stale += report.changes - len(newest)
        pending = list(newest.values())
        for attempt in range(self._max_attempts):
            if not pending:
                return report
            if attempt:
                report.retries += 1
                time.sleep(random.uniform(0, self._backoff * 2**attempt))  # jitter: the racers spread out
            pending = self._attempt(pending, report)
        raise AggregationConflict(f"{len(pending)} change(s) still contended after {self._max_attempts} attempts")

    def _attempt(self, changes: list[SourceVersion], report: AggregationReport) -> list[SourceVersion]:
        """Read, compute and commit; return the changes whose transaction lost a race."""
        stored = self._store.read_contributions(c.source_key for c in changes)
        todo: list[tuple[SourceVersion, StoredContribution | None]] = []
        for change in changes:
            previous = stored.get(change.source_key)
            if previous is not None and previous.version >= change.version:
                report.stale += 1
            else:
                todo.append((change, previous))
        members = {m for change, previous in todo for m in _members(change, previous)}
        passes = self._store.read_passes(members)
        today = self._today()
        lost: list[SourceVersion] = []
        for group in _transactions(todo):
            contribution_writes, pass_writes = self._plan(group, passes, today)
            if self._store.commit(contribution_writes, pass_writes):
                report.applied += len(group)
                for write in pass_writes:
                    passes[write.member] = StoredPass(write.aggregate, write.revision, write.derived)
                    report.passes_written.add(write.member)
            else:
                lost.extend(change for change, _ in group)
        return lost

    def _plan(
        self,
        group: list[tuple[SourceVersion, StoredContribution | None]],
        passes: Mapping[str, StoredPass],
        today: date,
    ) -> tuple[list[ContributionWrite], list[PassWrite]]:
        aggregates: dict[str, Aggregate] = {}

        def aggregate(member: str) -> Aggregate:
            if member not in aggregates:
                current = passes.get(member)
                base = current.aggregate if current else Aggregate(member)
                aggregates[member] = Aggregate(member, dict(base.sums), dict(base.facts))
            return aggregates[member]

        contribution_writes = []
        for change, previous in group:
            old = previous.contribution if previous else None
            if old != change.contribution:
                if old is not None and old.member is not None:
                    aggregate(old.member).add(old, sign=-1)
                if change.contribution.member is not None:
                    aggregate(change.contribution.member).add(change.contribution)
            contribution_writes.append(
                ContributionWrite(
                    change.source_key, change.version, change.contribution, previous.version if previous else None
                )
            )
        pass_writes = []
        for member, updated in aggregates.items():
            current = passes.get(member)
            if current is not None and current.aggregate == updated:
                continue  # e.g. removed and added back the same: nothing to write for this member
            pass_writes.append(
                PassWrite(
                    member,
                    updated,
                    derive_pass(updated, self.config, today),
                    current.revision if current else 0,
                    next_change(updated, today),
                )
            )
        return contribution_writes, pass_writes


def _members(change: SourceVersion, previous: StoredContribution | None) -> set[str]:
    members = {change.contribution.member}
    if previous is not None:
        members.add(previous.contribution.member)
    return {m for m in members if m is not None}


def _transactions(
    todo: list[tuple[SourceVersion, StoredContribution | None]],
) -> list[list[tuple[SourceVersion, StoredContribution | None]]]:
    """Cut the changes into transactions of at most 100 actions: one per contribution and per member."""
    groups: list[list[tuple[SourceVersion, StoredContribution | None]]] = []
    current: list[tuple[SourceVersion, StoredContribution | None]] = []
    members: set[str] = set()
    for change, previous in todo:
        touched = _members(change, previous)
        if current and len(current) + 1 + len(members | touched) > MAX_TRANSACTION_ACTIONS:
            groups.append(current)
            current, members = [], set()
        current.append((change, previous))
        members |= touched
    if current:
        groups.append(current)
    return groups


# ------------------------------------------------------------------------------------ the stream
def source_version(
    image: Mapping[str, Any] | None, config: WalletConfig, read_body: Callable[[str], Any] | None = None
) -> SourceVersion | None:
    """The wallet source version an entity item's new image stands for; None when it is not a wallet object.

    A record too large for one item has its body in S3 (``record_ref``): ``read_body`` reads it,
    so the wallet sees the full record whatever its size.
    """
    if not image or "version" not in image or image.get("object") not in config.objects:
        return None
    record = record_of_image(image, read_body)
    contribution = contribution_of(
        config, str(image["object"]), str(image["record_id"]), record, bool(image.get("deleted"))
    )
    if contribution is None:
        return None
    return SourceVersion(str(image["pk"]), int(image["version"]), contribution)


def aggregate_wallet(
    event: Mapping[str, Any], *, aggregator: WalletAggregator, read_body: Callable[[str], Any] | None = None
) -> dict[str, list[dict[str, str]]]:
    """Apply a stream batch; on failure report it from its first record (every step is idempotent)."""
    records = stream_records(event)
    changes: list[SourceVersion] = []
    failed_at: str | None = None
    for sequence_number, images in records:
        try:
            change = source_version(images.new_image, aggregator.config, read_body)
        except (KeyError, TypeError, ValueError):
            logger.exception("stream record cannot be read", extra={"sequence_number": sequence_number})
            failed_at = sequence_number
            break
        if change is not None:
            changes.append(change)
    try:
        report = aggregator.apply(changes)
    except AggregationConflict as error:
        logger.warning("aggregation contended", extra={"reason": str(error)})
        metrics.add_metric(name="AggregationConflicts", unit=MetricUnit.Count, value=1)
        return {"batchItemFailures": [{"itemIdentifier": records[0].sequence_number}]}
    for name, value in (
        ("WalletChangesApplied", report.applied),
        ("WalletChangesStale", report.stale),
        ("WalletRetries", report.retries),
        ("MemberPassesWritten", len(report.passes_written)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info(
        "wallet changes applied",
        extra={"changes": report.changes, "applied": report.applied, "stale": report.stale, "retries": report.retries},
    )
    return {"batchItemFailures": [{"itemIdentifier": failed_at}] if failed_at else []}
